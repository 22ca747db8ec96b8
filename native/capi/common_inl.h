// guarded(): the exception barrier of every C entry point.
#pragma once
#include <exception>
#include <new>

#include "advprop/error.h"

namespace advprop {
namespace capi {

// Keeps "<a><b><c>" for advprop_last_error() and returns `status`; never throws (the message is
// dropped if even that allocation fails).
advprop_status record(advprop_status status, const char* a, const char* b, const char* c = "") noexcept;

template <typename Fn>
advprop_status guarded(const char* fn_name, Fn&& fn) {
  record(ADVPROP_OK, "", "");
  try {
    fn();
    return ADVPROP_OK;
  } catch (const Error& e) {
    return record(status_of(e.code()), "", e.what());
  } catch (const std::bad_alloc&) {
    return record(ADVPROP_ERR_OOM, fn_name, ": out of host memory");
  } catch (const std::exception& e) {
    return record(ADVPROP_ERR_INTERNAL, fn_name, ": internal error: ", e.what());
  } catch (...) {
    return record(ADVPROP_ERR_INTERNAL, fn_name, ": internal error (unknown exception)");
  }
}

}  // namespace capi
}  // namespace advprop
