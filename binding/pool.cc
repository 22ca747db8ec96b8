// Entries of global average pooling, channel scale (and its scale-add), softmax cross-entropy and
// argmax: parse the arguments, call advprop::ops, wrap the results. No math here.
#include "advprop/loss.h"
#include "advprop/pool.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {

using advprop::Tensor;
namespace ops = advprop::ops;

ADVPROP_ENTRY(GlobalAvgPool)
  check_arg_count(info, 1, "globalAvgPool");
  return wrap(info, ops::global_avg_pool(TensorHandle::From(info, 0, "globalAvgPool", "x")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(GlobalAvgPoolBackward)
  check_arg_count(info, 2, "globalAvgPoolBackward");
  const Tensor& dy = TensorHandle::From(info, 0, "globalAvgPoolBackward", "dy");
  return wrap(info, ops::global_avg_pool_backward(dy, to_shape(info[1], "globalAvgPoolBackward", "xShape")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ChannelScale)
  return two_tensors(info, "channelScale", "x", "s", ops::channel_scale);
ADVPROP_ENTRY_END

// (x, s, dy, needDx, needDs) -> [dx | null, ds | null]
ADVPROP_ENTRY(ChannelScaleBackward)
  const char* op = "channelScaleBackward";
  check_arg_count(info, 5, op);
  const Tensor& x = TensorHandle::From(info, 0, op, "x");
  const Tensor& s = TensorHandle::From(info, 1, op, "s");
  const Tensor& dy = TensorHandle::From(info, 2, op, "dy");
  Tensor dx, ds;
  ops::channel_scale_backward(x, s, dy, to_bool(info[3], op, "needDx"), to_bool(info[4], op, "needDs"), &dx, &ds);
  return wrap_all(info, {dx, ds});
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ChannelScaleAdd)
  const char* op = "channelScaleAdd";
  check_arg_count(info, 3, op);
  return wrap(info, ops::channel_scale_add(TensorHandle::From(info, 0, op, "x"), TensorHandle::From(info, 1, op, "s"),
                                           TensorHandle::From(info, 2, op, "b")));
ADVPROP_ENTRY_END

// (logits, labels, smoothing, validateLabels) -> [loss [N], lse [N]]
ADVPROP_ENTRY(CrossEntropy)
  const char* op = "crossEntropy";
  check_arg_count(info, 4, op);
  const Tensor& z = TensorHandle::From(info, 0, op, "logits");
  const Tensor& y = TensorHandle::From(info, 1, op, "labels");
  Tensor loss, lse;
  ops::cross_entropy(z, y, to_number(info[2], op, "labelSmoothing"), to_bool(info[3], op, "validateLabels"), &loss, &lse);
  return wrap_all(info, {loss, lse});
ADVPROP_ENTRY_END

// (logits, labels, lse, dy, scale, smoothing) -> dlogits
ADVPROP_ENTRY(CrossEntropyBackward)
  const char* op = "crossEntropyBackward";
  check_arg_count(info, 6, op);
  return wrap(info, ops::cross_entropy_backward(
                        TensorHandle::From(info, 0, op, "logits"), TensorHandle::From(info, 1, op, "labels"),
                        TensorHandle::From(info, 2, op, "lse"), TensorHandle::From(info, 3, op, "dy"),
                        to_number(info[4], op, "scale"), to_number(info[5], op, "labelSmoothing")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ArgmaxRows)
  check_arg_count(info, 1, "argmax");
  return wrap(info, ops::argmax_rows(TensorHandle::From(info, 0, "argmax", "logits")));
ADVPROP_ENTRY_END

}  // namespace advprop_binding
