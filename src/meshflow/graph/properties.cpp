#include "meshflow/graph/properties.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "meshflow/sdk/ptr.h"

namespace mf::graph {

namespace {

using manifest::Value;

std::string quote(const std::string &s) { return "'" + s + "'"; }

bool parse_int(const std::string &s, long long *out) {
  if (s.empty()) return false;
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 0);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_uint(const std::string &s, unsigned long long *out) {
  if (s.empty() || s[0] == '-') return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_double(const std::string &s, double *out) {
  if (s.empty()) return false;
  char *end = nullptr;
  errno = 0;
  double v = g_ascii_strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

template <typename T> std::string num(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(buf, sizeof buf, "%.6g", v);
    return buf;
  } else {
    return std::to_string(v);
  }
}

template <typename T> std::string range_hint(T lo, T hi) {
  return "allowed: " + num(lo) + ".." + num(hi);
}

std::string enum_values(GType enum_type) {
  auto *klass = static_cast<GEnumClass *>(g_type_class_ref(enum_type));
  std::string s;
  for (guint i = 0; i < klass->n_values; i++) {
    if (!s.empty()) s += ", ";
    s += klass->values[i].value_nick;
  }
  g_type_class_unref(klass);
  return s;
}

std::string flags_values(GType flags_type) {
  auto *klass = static_cast<GFlagsClass *>(g_type_class_ref(flags_type));
  std::string s;
  for (guint i = 0; i < klass->n_values; i++) {
    if (!s.empty()) s += ", ";
    s += klass->values[i].value_nick;
  }
  g_type_class_unref(klass);
  return s;
}

bool need_scalar(const Value &v, ConvertError *err, const char *what) {
  if (v.is_scalar()) return true;
  err->message = std::string("expected ") + what + ", got " + v.kind_name();
  return false;
}

// Integer properties of every width share one path: parse as 64-bit, check the pspec's range.
template <typename PSpec, typename T>
bool set_signed(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err,
                void (*setter)(GValue *, T)) {
  auto *p = reinterpret_cast<PSpec *>(ps);
  long long x;
  if (!need_scalar(v, err, "an integer")) return false;
  if (!parse_int(v.scalar, &x)) {
    err->message = "expected an integer, got " + quote(v.scalar);
    err->hint = range_hint<long long>(p->minimum, p->maximum);
    return false;
  }
  if (x < (long long)p->minimum || x > (long long)p->maximum) {
    err->message = "value " + v.scalar + " is out of range";
    err->hint = range_hint<long long>(p->minimum, p->maximum);
    return false;
  }
  g_value_init(out, G_PARAM_SPEC_VALUE_TYPE(ps));
  setter(out, (T)x);
  return true;
}

template <typename PSpec, typename T>
bool set_unsigned(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err,
                  void (*setter)(GValue *, T)) {
  auto *p = reinterpret_cast<PSpec *>(ps);
  unsigned long long x;
  if (!need_scalar(v, err, "a non-negative integer")) return false;
  if (!parse_uint(v.scalar, &x)) {
    err->message = "expected a non-negative integer, got " + quote(v.scalar);
    err->hint = range_hint<unsigned long long>(p->minimum, p->maximum);
    return false;
  }
  if (x < (unsigned long long)p->minimum || x > (unsigned long long)p->maximum) {
    err->message = "value " + v.scalar + " is out of range";
    err->hint = range_hint<unsigned long long>(p->minimum, p->maximum);
    return false;
  }
  g_value_init(out, G_PARAM_SPEC_VALUE_TYPE(ps));
  setter(out, (T)x);
  return true;
}

template <typename PSpec, typename T>
bool set_float(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err,
               void (*setter)(GValue *, T)) {
  auto *p = reinterpret_cast<PSpec *>(ps);
  double x;
  if (!need_scalar(v, err, "a number")) return false;
  if (!parse_double(v.scalar, &x)) {
    err->message = "expected a number, got " + quote(v.scalar);
    err->hint = range_hint<double>(p->minimum, p->maximum);
    return false;
  }
  if (x < p->minimum || x > p->maximum) {
    err->message = "value " + v.scalar + " is out of range";
    err->hint = range_hint<double>(p->minimum, p->maximum);
    return false;
  }
  g_value_init(out, G_PARAM_SPEC_VALUE_TYPE(ps));
  setter(out, (T)x);
  return true;
}

bool set_boolean(const Value &v, GValue *out, ConvertError *err) {
  if (!need_scalar(v, err, "a boolean")) return false;
  static const char *yes[] = {"true", "yes", "on", "1"};
  static const char *no[] = {"false", "no", "off", "0"};
  for (const char *s : yes)
    if (g_ascii_strcasecmp(v.scalar.c_str(), s) == 0) {
      g_value_init(out, G_TYPE_BOOLEAN);
      g_value_set_boolean(out, TRUE);
      return true;
    }
  for (const char *s : no)
    if (g_ascii_strcasecmp(v.scalar.c_str(), s) == 0) {
      g_value_init(out, G_TYPE_BOOLEAN);
      g_value_set_boolean(out, FALSE);
      return true;
    }
  err->message = "expected a boolean, got " + quote(v.scalar);
  err->hint = "allowed: true, false";
  return false;
}

bool set_enum(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err) {
  GType t = G_PARAM_SPEC_VALUE_TYPE(ps);
  if (!need_scalar(v, err, "an enum value")) return false;
  auto *klass = static_cast<GEnumClass *>(g_type_class_ref(t));
  const GEnumValue *ev = g_enum_get_value_by_nick(klass, v.scalar.c_str());
  if (!ev) ev = g_enum_get_value_by_name(klass, v.scalar.c_str());
  long long n;
  if (!ev && parse_int(v.scalar, &n) && n >= G_MININT && n <= G_MAXINT) ev = g_enum_get_value(klass, (gint)n);
  bool ok = ev != nullptr;
  if (ok) {
    g_value_init(out, t);
    g_value_set_enum(out, ev->value);
  } else {
    err->message = "invalid value " + quote(v.scalar);
    err->hint = "one of: " + enum_values(t);
  }
  g_type_class_unref(klass);
  return ok;
}

bool set_flags(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err) {
  GType t = G_PARAM_SPEC_VALUE_TYPE(ps);
  std::vector<std::string> names;
  if (v.is_sequence()) {
    for (const auto &item : v.items) {
      if (!item.is_scalar()) {
        err->message = "expected flag names, got " + std::string(item.kind_name());
        return false;
      }
      names.push_back(item.scalar);
    }
  } else if (v.is_scalar()) {
    Ptr<gchar *> parts = adopt(g_strsplit_set(v.scalar.c_str(), "+|", -1));
    for (gchar **p = parts.get(); *p; p++) {
      std::string s = g_strstrip(*p);
      if (!s.empty()) names.push_back(s);
    }
  } else if (v.kind != Value::Kind::Null) {
    err->message = std::string("expected flags, got ") + v.kind_name();
    return false;
  }
  auto *klass = static_cast<GFlagsClass *>(g_type_class_ref(t));
  guint flags = 0;
  bool ok = true;
  for (const auto &n : names) {
    const GFlagsValue *fv = g_flags_get_value_by_nick(klass, n.c_str());
    if (!fv) fv = g_flags_get_value_by_name(klass, n.c_str());
    if (!fv) {
      err->message = "invalid flag " + quote(n);
      err->hint = "flags: " + flags_values(t);
      ok = false;
      break;
    }
    flags |= fv->value;
  }
  g_type_class_unref(klass);
  if (!ok) return false;
  g_value_init(out, t);
  g_value_set_flags(out, flags);
  return true;
}

// Anything else GStreamer can deserialise (caps, structures, fractions, arrays...).
bool set_deserialized(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err) {
  GType t = G_PARAM_SPEC_VALUE_TYPE(ps);
  std::string text;
  if (v.is_scalar()) {
    text = v.scalar;
  } else if (v.is_sequence() && (t == GST_TYPE_ARRAY || t == GST_TYPE_LIST)) {
    text = t == GST_TYPE_ARRAY ? "<" : "{";
    for (size_t i = 0; i < v.items.size(); i++) {
      if (!v.items[i].is_scalar()) {
        err->message = "expected a list of scalars";
        return false;
      }
      if (i) text += ", ";
      text += v.items[i].scalar;
    }
    text += t == GST_TYPE_ARRAY ? ">" : "}";
  } else {
    err->message = std::string("expected a ") + g_type_name(t) + " value, got " + v.kind_name();
    return false;
  }
  if (G_TYPE_IS_OBJECT(t) || G_TYPE_IS_INTERFACE(t) || t == G_TYPE_POINTER) {
    err->message = std::string("property of type ") + g_type_name(t) + " cannot be set from a manifest";
    return false;
  }
  g_value_init(out, t);
  if (!gst_value_deserialize_with_pspec(out, text.c_str(), ps)) {
    g_value_unset(out);
    err->message = "cannot read " + quote(text) + " as " + g_type_name(t);
    return false;
  }
  return true;
}

}  // namespace

bool value_to_gvalue(const Value &v, GParamSpec *ps, GValue *out, ConvertError *err) {
  GType t = G_PARAM_SPEC_VALUE_TYPE(ps);
  GType ft = G_TYPE_FUNDAMENTAL(t);
  switch (ft) {
    case G_TYPE_BOOLEAN: return set_boolean(v, out, err);
    case G_TYPE_INT: return set_signed<GParamSpecInt, gint>(v, ps, out, err, g_value_set_int);
    case G_TYPE_LONG: return set_signed<GParamSpecLong, glong>(v, ps, out, err, g_value_set_long);
    case G_TYPE_INT64: return set_signed<GParamSpecInt64, gint64>(v, ps, out, err, g_value_set_int64);
    case G_TYPE_CHAR: return set_signed<GParamSpecChar, gint8>(v, ps, out, err, g_value_set_schar);
    case G_TYPE_UINT: return set_unsigned<GParamSpecUInt, guint>(v, ps, out, err, g_value_set_uint);
    case G_TYPE_ULONG: return set_unsigned<GParamSpecULong, gulong>(v, ps, out, err, g_value_set_ulong);
    case G_TYPE_UINT64: return set_unsigned<GParamSpecUInt64, guint64>(v, ps, out, err, g_value_set_uint64);
    case G_TYPE_UCHAR: return set_unsigned<GParamSpecUChar, guchar>(v, ps, out, err, g_value_set_uchar);
    case G_TYPE_FLOAT: return set_float<GParamSpecFloat, gfloat>(v, ps, out, err, g_value_set_float);
    case G_TYPE_DOUBLE: return set_float<GParamSpecDouble, gdouble>(v, ps, out, err, g_value_set_double);
    case G_TYPE_ENUM: return set_enum(v, ps, out, err);
    case G_TYPE_FLAGS: return set_flags(v, ps, out, err);
    case G_TYPE_STRING:
      if (v.kind == Value::Kind::Null) {
        g_value_init(out, G_TYPE_STRING);
        return true;
      }
      if (!need_scalar(v, err, "a string")) return false;
      g_value_init(out, G_TYPE_STRING);
      g_value_set_string(out, v.scalar.c_str());
      return true;
    default:
      break;
  }
  if (t == G_TYPE_STRV) {
    std::vector<const char *> items;
    if (v.is_scalar()) {
      items.push_back(v.scalar.c_str());
    } else if (v.is_sequence()) {
      for (const auto &i : v.items) {
        if (!i.is_scalar()) {
          err->message = "expected a list of strings";
          return false;
        }
        items.push_back(i.scalar.c_str());
      }
    } else if (v.kind != Value::Kind::Null) {
      err->message = std::string("expected a list of strings, got ") + v.kind_name();
      return false;
    }
    items.push_back(nullptr);
    g_value_init(out, G_TYPE_STRV);
    g_value_set_boxed(out, items.data());
    return true;
  }
  return set_deserialized(v, ps, out, err);
}

std::string describe_pspec_range(GParamSpec *ps) {
  GType t = G_PARAM_SPEC_VALUE_TYPE(ps);
  switch (G_TYPE_FUNDAMENTAL(t)) {
#define RANGE(GT, PS) \
  case GT: return range_hint(reinterpret_cast<PS *>(ps)->minimum, reinterpret_cast<PS *>(ps)->maximum).substr(9);
    RANGE(G_TYPE_INT, GParamSpecInt)
    RANGE(G_TYPE_UINT, GParamSpecUInt)
    RANGE(G_TYPE_LONG, GParamSpecLong)
    RANGE(G_TYPE_ULONG, GParamSpecULong)
    RANGE(G_TYPE_INT64, GParamSpecInt64)
    RANGE(G_TYPE_UINT64, GParamSpecUInt64)
    RANGE(G_TYPE_FLOAT, GParamSpecFloat)
    RANGE(G_TYPE_DOUBLE, GParamSpecDouble)
#undef RANGE
    case G_TYPE_ENUM: return "one of: " + enum_values(t);
    case G_TYPE_FLAGS: return "flags: " + flags_values(t);
    case G_TYPE_BOOLEAN: return "true, false";
    default: return "";
  }
}

std::string gvalue_to_string(const GValue *v) {
  if (G_VALUE_HOLDS_STRING(v)) {
    const char *s = g_value_get_string(v);
    return s ? s : "";
  }
  if (G_VALUE_HOLDS_ENUM(v)) {
    auto *klass = static_cast<GEnumClass *>(g_type_class_ref(G_VALUE_TYPE(v)));
    const GEnumValue *ev = g_enum_get_value(klass, g_value_get_enum(v));
    std::string s = ev ? ev->value_nick : std::to_string(g_value_get_enum(v));
    g_type_class_unref(klass);
    return s;
  }
  if (GST_VALUE_HOLDS_CAPS(v)) {
    const GstCaps *caps = gst_value_get_caps(v);
    CharPtr s = adopt(caps ? gst_caps_to_string(caps) : g_strdup("NULL"));
    return s.get();
  }
  if (GST_VALUE_HOLDS_STRUCTURE(v)) {
    const GstStructure *st = gst_value_get_structure(v);
    CharPtr s = adopt(st ? gst_structure_to_string(st) : g_strdup("NULL"));
    return s.get();
  }
  if (G_VALUE_HOLDS(v, G_TYPE_STRV)) {
    auto **strv = static_cast<gchar **>(g_value_get_boxed(v));
    std::string s = "<";
    for (gchar **p = strv; p && *p; p++) s += std::string(p == strv ? "" : ", ") + "\"" + *p + "\"";
    return s + ">";
  }
  CharPtr s = adopt(gst_value_serialize(v));
  return s ? s.get() : "";
}

std::string pspec_default_string(GParamSpec *ps) {
  const GValue *dv = g_param_spec_get_default_value(ps);
  if (G_VALUE_HOLDS_DOUBLE(dv)) return num(g_value_get_double(dv));
  if (G_VALUE_HOLDS_FLOAT(dv)) return num((double)g_value_get_float(dv));
  if (G_VALUE_HOLDS_STRING(dv) && g_value_get_string(dv) == nullptr) return "NULL";
  if (G_TYPE_IS_OBJECT(G_VALUE_TYPE(dv)) || G_VALUE_HOLDS(dv, G_TYPE_POINTER)) return "NULL";
  if (G_TYPE_IS_BOXED(G_VALUE_TYPE(dv)) && g_value_get_boxed(dv) == nullptr) return "NULL";
  return gvalue_to_string(dv);
}

}  // namespace mf::graph
