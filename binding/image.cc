// Entry of normalize_image: parse arguments, call advprop::ops, wrap the result.
#include <string>
#include <vector>

#include "advprop/image.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {
namespace {

// An array of numbers; its length against the channels is the front-end's check.
std::vector<double> to_values(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsArray()) throw_arg(std::string(op) + ": argument '" + arg + "' must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(to_number(a.Get(i), op, arg));
  return out;
}

}  // namespace

// (x, mean, std, dtype)
ADVPROP_ENTRY(NormalizeImage)
  const char* op = "normalizeImage";
  check_arg_count(info, 4, op);
  const advprop::Tensor& x = TensorHandle::From(info, 0, op, "x");
  return TensorHandle::Wrap(info.Env(), advprop::ops::normalize_image(x, to_values(info[1], op, "mean"), to_values(info[2], op, "std"),
                                                                      to_dtype(info[3], op, "dtype")));
ADVPROP_ENTRY_END

}  // namespace advprop_binding
