import { strict as assert } from 'node:assert';
import { AdvpropError } from '../../lib/errors.js';
import { formatDuration, formatField, formatRate, Progress } from '../../lib/report/index.js';

class FakeStream {
  out: string[] = [];
  constructor(readonly isTTY: boolean, readonly columns = 200) {}
  write(s: string): boolean { this.out.push(s); return true; }
}
/** A clock the test moves by hand, in milliseconds. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

describe('report: progress', () => {
  it('computes rate and ETA from the injected clock', () => {
    const c = clock();
    const p = new Progress({ total: 1000, stream: new FakeStream(false), now: c.now });
    assert.ok(Number.isNaN(p.rate()) && Number.isNaN(p.eta()));
    c.advance(4000);
    p.update(200);
    assert.equal(p.rate(), 50);
    assert.equal(p.eta(), 16);
    c.advance(6000);
    p.update(500);
    assert.equal(p.rate(), 50);
    assert.equal(p.eta(), 10);
    assert.match(p.line(), /500\/1000 50\.0% 50\.0 it\/s eta 0:10/);
  });

  it('on a TTY redraws one line in place, at most every ttyInterval, with bar, fields and a final newline', () => {
    const c = clock(), s = new FakeStream(true);
    const p = new Progress({ total: 100, label: 'epoch 3/10', stream: s, now: c.now });
    c.advance(1000); p.update(10, { epoch: 3, loss: 0.412345, 'clean acc': 0.9123, adv_acc: 0.5 });
    c.advance(50); p.update(11, { loss: 0.4 });   // too soon: not drawn
    c.advance(60); p.update(12, { loss: 0.39 });  // 110 ms after the first draw
    assert.equal(s.out.length, 2);
    for (const w of s.out) assert.ok(w.startsWith('\r') && w.endsWith('\x1b[K') && !w.includes('\n'), JSON.stringify(w));
    assert.equal(s.out[0], '\repoch 3/10 [##..................] 10/100 10.0% 10.0 it/s eta 0:09 epoch=3 loss=0.4123 clean_acc=91.23% adv_acc=50.00%\x1b[K');
    p.done();
    assert.equal(s.out.length, 3);
    assert.ok(s.out[2]!.endsWith('\n') && s.out[2]!.includes('12/100') && s.out[2]!.includes('in 0:01'));
    p.update(50); p.done();
    assert.equal(s.out.length, 3, 'nothing after done()');
  });

  it('on a TTY never writes a line wider than the terminal', () => {
    const c = clock(), s = new FakeStream(true, 40);
    const p = new Progress({ total: 10, stream: s, now: c.now });
    c.advance(500); p.update(5, { loss: 1.5, 'a very long field name': 'with a very long value' });
    assert.equal(s.out[0]!.replace('\r', '').replace('\x1b[K', '').length, 39);
  });

  it('when not a TTY writes plain lines at most every `interval` seconds, and a final one', () => {
    const c = clock(), s = new FakeStream(false);
    const p = new Progress({ total: 1000, label: 'train', stream: s, interval: 5, now: c.now });
    for (let i = 1; i <= 100; i++) { c.advance(200); p.update(i * 10, { loss: 1 / i }); } // 20 s
    // Lines at 0.2 s (the first update), then 5.2, 10.2, 15.2 s.
    assert.equal(s.out.length, 4);
    for (const w of s.out) assert.ok(!w.includes('\r') && !w.includes('\x1b') && w.endsWith('\n') && w.startsWith('train '));
    assert.ok(!s.out[0]!.includes('['), 'no bar in logs');
    assert.match(s.out[1]!, /^train 260\/1000 26\.0% 50\.0 it\/s eta 0:15 loss=0\.03846\n$/);
    p.done({ loss: 0.01, acc: 0.875 });
    assert.equal(s.out.length, 5);
    assert.equal(s.out[4], 'train 1000/1000 100% 50.0 it/s in 0:20 loss=0.01 acc=87.50%\n');
  });

  it('formats durations, rates and fields', () => {
    assert.equal(formatDuration(0), '0:00');
    assert.equal(formatDuration(75.4), '1:15');
    assert.equal(formatDuration(3 * 3600 + 62), '3:01:02');
    assert.equal(formatDuration(NaN), '--:--');
    assert.equal(formatRate(1234.5), '1235 it/s');
    assert.equal(formatRate(12.345), '12.3 it/s');
    assert.equal(formatRate(1.2345), '1.23 it/s');
    assert.equal(formatRate(0.02), '50.0 s/it');
    assert.equal(formatRate(NaN), '- it/s');
    assert.equal(formatField('loss', 2.302585), '2.303');
    assert.equal(formatField('loss', 0.000123456), '0.0001235');
    assert.equal(formatField('lr', 0.016), '0.016');
    assert.equal(formatField('epoch', 12), '12');
    assert.equal(formatField('clean acc', 0.93456), '93.46%');
    assert.equal(formatField('note', 'warm-up'), 'warm-up');
    assert.equal(formatField('loss', NaN), 'NaN');
  });

  it('rejects a bad total with ERR_ARG', () => {
    for (const total of [0, -1, NaN, Infinity])
      assert.throws(() => new Progress({ total, stream: new FakeStream(false) }), (e: unknown) => e instanceof AdvpropError && e.code === 'ERR_ARG');
  });
});
