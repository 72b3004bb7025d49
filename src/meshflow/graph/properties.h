// Manifest property values -> GValues, checked against the element's GParamSpec.
//
// Never a silently ignored property: the pspec is looked up first, the value converted with an
// explicit rule per type, and range/enum violations reported with what would be valid.
#pragma once

#include <gst/gst.h>

#include <string>

#include "meshflow/manifest/model.h"

namespace mf::graph {

struct ConvertError {
  std::string message;  // "expected an integer, got 'abc'"
  std::string hint;     // "allowed: 0..64" / "one of: smpte, snow, black"
};

/// Convert `v` to a GValue of the pspec's type (out is initialised by this call on success).
bool value_to_gvalue(const manifest::Value &v, GParamSpec *pspec, GValue *out, ConvertError *err);

/// Human description of what the pspec accepts: "double 0..64 (default 4)", "enum: a, b".
std::string describe_pspec_range(GParamSpec *pspec);

/// A pspec's default value serialised ("4", "smpte", "NULL").
std::string pspec_default_string(GParamSpec *pspec);

/// Serialise a GValue the way gst-launch-1.0 parses it.
std::string gvalue_to_string(const GValue *v);

}  // namespace mf::graph
