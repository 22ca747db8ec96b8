// The op families of a training step: the names bench/profile.ts files each addon call under
// and bench/roofline.ts counts bytes and FLOPs for, so that a profile measured on a GPU
// (`npm run bench -- --profile --profile-json FILE`) lines up with the roofline row for row
// (`npm run bench -- --roofline ... --measured FILE`). This is the one place that maps our op
// names to families; it reads only shapes and arguments, so it loads without the addon.

export const FAMILIES = {
  convStemFwd: 'conv stem fwd', convStemDgrad: 'conv stem bwd-input', convStemWgrad: 'conv stem bwd-weight',
  convPwFwd: 'conv pointwise fwd', convPwDgrad: 'conv pointwise bwd-input', convPwWgrad: 'conv pointwise bwd-weight',
  convDwFwd: 'conv depthwise fwd', convDwDgrad: 'conv depthwise bwd-input', convDwWgrad: 'conv depthwise bwd-weight',
  bnFwd: 'batch norm (+act) fwd', bnBwd: 'batch norm (+act) bwd',
  seFc: 'squeeze-excite FCs', seScale: 'squeeze-excite scale', pool: 'global pool (SE + head)',
  classifier: 'classifier (linear)',
  elementwise: 'elementwise', reductions: 'reductions', dropout: 'dropout / drop-connect', loss: 'loss',
  attack: 'attack update', image: 'normalize image (u8)', casts: 'casts (autocast)', copies: 'copies / views',
  optimizer: 'optimizer', ema: 'ema',
} as const;
export type Family = (typeof FAMILIES)[keyof typeof FAMILIES] | string;

type ConvKind = 'stem' | 'pointwise' | 'depthwise';
function convKind(w: readonly number[], groups: number): ConvKind {
  if (groups > 1) return 'depthwise';
  return w[1] === 1 && w[2] === 1 ? 'pointwise' : 'stem';
}

const shapeOf = (t: unknown): readonly number[] => (t as { shape: readonly number[] }).shape;

// The classifier reads the head's features (1280 wide in B0, wider in bigger models); the SE FCs
// read the pooled expanded channels. Told apart by width, which holds for B0: in B4 and up some
// SE layers are 1280 wide or more and are filed as classifier.
const HEAD_MIN = 1280;

/** The op family of one addon call, from its name and arguments. */
export function family(name: string, args: readonly unknown[]): Family {
  const F = FAMILIES;
  const conv = (k: ConvKind, pass: 'fwd' | 'bwd-input' | 'bwd-weight'): string => `conv ${k} ${pass}`;
  switch (name) {
    case 'conv2d': return conv(convKind(shapeOf(args[1]), args[5] as number), 'fwd');
    case 'conv2dBnEval': return `conv ${convKind(shapeOf(args[1]), args[12] as number)} fwd + bn (inference)`;
    case 'conv2dBackwardInput': return conv(convKind(shapeOf(args[1]), args[5] as number), 'bwd-input');
    case 'conv2dBackwardWeight': return conv(convKind(args[2] as number[], args[5] as number), 'bwd-weight');
    case 'linear': case 'linearBackwardInput': return shapeOf(args[1])[1]! >= HEAD_MIN ? F.classifier : F.seFc;
    case 'linearBackwardWeight': return shapeOf(args[1])[1]! >= HEAD_MIN ? F.classifier : F.seFc;
    case 'seGate': return F.seFc;
    case 'globalAvgPool': case 'globalAvgPoolBackward': return F.pool;
    case 'channelScale': case 'channelScaleBackward': case 'channelScaleAdd': return F.seScale;
    case 'multiBatchNorm': return F.bnFwd;
    case 'multiBatchNormBackward': return F.bnBwd;
    case 'binary': case 'unary': case 'unaryBackward': return F.elementwise;
    case 'sum': case 'sumToShape': case 'sumBackward': return F.reductions;
    case 'dropout': case 'dropConnectAdd': return F.dropout;
    case 'crossEntropy': case 'crossEntropyBackward': case 'argmaxRows': return F.loss;
    case 'pgdStep': case 'pgdRandomStart': return F.attack;
    case 'normalizeImage': return F.image;
    case 'rmspropUpdate': case 'sgdUpdate': return F.optimizer;
    case 'emaUpdate': return F.ema;
    case 'cast': return F.casts;
    case 'concat0': case 'slice0': case 'slice0Backward': case 'reshape': case 'clone': case 'toDevice':
      return F.copies;
    case 'fromArray': case 'toArray': case 'toArrayAsync': return 'host transfers';
    case 'full': case 'uniform': case 'normal': return 'fills';
    default: return 'handles (dispose/share)';
  }
}
