// Ownership of GLib/GObject/GStreamer references as std::unique_ptr.
//
// Every reference is owned by exactly one of these; the way it was obtained is spelled out:
//   auto e = mf::adopt(gst_element_factory_make("queue", nullptr));  // floating -> use mf::sink
//   auto p = mf::adopt(gst_element_get_static_pad(e.get(), "src"));   // we got a full ref: adopt
//   auto c = mf::ref(borrowed_caps);                                   // add a ref to a borrowed one
//   auto s = mf::sink(gst_element_factory_make("queue", nullptr));    // take the floating ref
// No borrowed pointer outlives the owner it was taken from.
#pragma once

#include <gst/gst.h>
#include <memory>

namespace mf {

struct GObjectUnref {
  void operator()(gpointer p) const { if (p) g_object_unref(p); }
};
struct MiniObjectUnref {
  void operator()(gpointer p) const { if (p) gst_mini_object_unref(GST_MINI_OBJECT_CAST(p)); }
};
struct GFreeDeleter {
  void operator()(gpointer p) const { g_free(p); }
};
struct GErrorFree {
  void operator()(GError *e) const { if (e) g_error_free(e); }
};
struct GStrvFree {
  void operator()(gchar **v) const { g_strfreev(v); }
};
struct GBytesUnref {
  void operator()(GBytes *b) const { if (b) g_bytes_unref(b); }
};
struct GMainContextUnref {
  void operator()(GMainContext *c) const { if (c) g_main_context_unref(c); }
};
struct GMainLoopUnref {
  void operator()(GMainLoop *l) const { if (l) g_main_loop_unref(l); }
};
struct GSourceUnref {
  void operator()(GSource *s) const { if (s) g_source_unref(s); }
};
struct GstStructureFree {
  void operator()(GstStructure *s) const { if (s) gst_structure_free(s); }
};

template <typename T, typename = void> struct DeleterFor { using type = GObjectUnref; };
template <> struct DeleterFor<GstCaps> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstBuffer> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstMessage> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstEvent> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstQuery> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstSample> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstBufferList> { using type = MiniObjectUnref; };
template <> struct DeleterFor<GstPromise> { using type = MiniObjectUnref; };
template <> struct DeleterFor<gchar> { using type = GFreeDeleter; };
template <> struct DeleterFor<GError> { using type = GErrorFree; };
template <> struct DeleterFor<gchar *> { using type = GStrvFree; };
template <> struct DeleterFor<GBytes> { using type = GBytesUnref; };
template <> struct DeleterFor<GMainContext> { using type = GMainContextUnref; };
template <> struct DeleterFor<GMainLoop> { using type = GMainLoopUnref; };
template <> struct DeleterFor<GSource> { using type = GSourceUnref; };
template <> struct DeleterFor<GstStructure> { using type = GstStructureFree; };

template <typename T> using Ptr = std::unique_ptr<T, typename DeleterFor<T>::type>;

/// Take ownership of a full reference (or an allocation) that the caller was given.
template <typename T> Ptr<T> adopt(T *p) { return Ptr<T>(p); }

/// Add a reference to a borrowed GObject and own it.
template <typename T> Ptr<T> ref(T *p) {
  if constexpr (std::is_same_v<typename DeleterFor<T>::type, MiniObjectUnref>) {
    if (p) gst_mini_object_ref(GST_MINI_OBJECT_CAST(p));
  } else {
    if (p) g_object_ref(p);
  }
  return Ptr<T>(p);
}

/// Own a newly created, possibly floating GObject (elements, pads): ref_sink it.
template <typename T> Ptr<T> sink(T *p) {
  if (p) g_object_ref_sink(p);
  return Ptr<T>(p);
}

using CharPtr = Ptr<gchar>;
using ErrorPtr = Ptr<GError>;

}  // namespace mf
