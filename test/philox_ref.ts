// Philox 4x32-10 in BigInt, written from the paper (the same independent reference as
// test/random.test.ts), for the tests of ops that draw: element i of a (seed, offset) stream is
// word i % 4 of philox(counter = {i / 4, offset}, key = seed).
const M32 = 0xffffffffn;

function philox(counter: bigint[], seed: bigint): bigint[] {
  let [c0, c1, c2, c3] = counter;
  let k0 = seed & M32;
  let k1 = (seed >> 32n) & M32;
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & M32, (p0 >> 32n) ^ c3 ^ k1, p0 & M32];
    k0 = (k0 + 0x9e3779b9n) & M32;
    k1 = (k1 + 0xbb67ae85n) & M32;
  }
  return [c0, c1, c2, c3];
}

function block(seed: bigint, offset: bigint, i: number): bigint[] {
  const blk = BigInt(Math.floor(i / 4));
  return philox([blk & M32, blk >> 32n, offset & M32, offset >> 32n], seed);
}

const u01 = (bits: bigint): number => (Number(bits >> 8n) + 1) / 16777216;

/** The i-th uniform in (0, 1] of the stream. */
export function refUniformAt(seed: bigint, offset: bigint, i: number): number {
  return u01(block(seed, offset, i)[i % 4]);
}

/** The i-th standard normal of the stream (Box-Muller on word pairs (0,1) and (2,3)). */
export function refNormalAt(seed: bigint, offset: bigint, i: number): number {
  const b = block(seed, offset, i);
  const pair = i & 2;
  const r = Math.sqrt(-2 * Math.log(u01(b[pair])));
  const theta = 2 * Math.PI * u01(b[pair + 1]);
  return i & 1 ? r * Math.sin(theta) : r * Math.cos(theta);
}
