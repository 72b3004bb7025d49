// GstMfMediaMeta registration; see media_meta.h.
#include "media_meta.h"

namespace {

gboolean meta_init(GstMeta *meta, gpointer, GstBuffer *) {
  auto *m = reinterpret_cast<GstMfMediaMeta *>(meta);
  m->seq = 0;
  m->capture_ts_ns = 0;
  return TRUE;
}

gboolean meta_transform(GstBuffer *dest, GstMeta *meta, GstBuffer *, GQuark type, gpointer) {
  // Copies (and any other transformation: the values describe the whole packet) keep the meta.
  (void)type;
  auto *m = reinterpret_cast<GstMfMediaMeta *>(meta);
  return gst_buffer_add_mf_media_meta(dest, m->seq, m->capture_ts_ns) != nullptr;
}

}  // namespace

GType gst_mf_media_meta_api_get_type(void) {
  static GType type = 0;
  static const gchar *tags[] = {nullptr};
  if (g_once_init_enter(&type)) {
    GType t = gst_meta_api_type_register("GstMfMediaMetaAPI", tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

const GstMetaInfo *gst_mf_media_meta_get_info(void) {
  static const GstMetaInfo *info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo *i = gst_meta_register(GST_MF_MEDIA_META_API_TYPE, "GstMfMediaMeta",
                                             sizeof(GstMfMediaMeta), meta_init, nullptr,
                                             meta_transform);
    g_once_init_leave(&info, i);
  }
  return info;
}

GstMfMediaMeta *gst_buffer_add_mf_media_meta(GstBuffer *buffer, guint32 seq,
                                             guint64 capture_ts_ns) {
  g_return_val_if_fail(GST_IS_BUFFER(buffer), nullptr);
  GstMfMediaMeta *m = gst_buffer_get_mf_media_meta(buffer);
  if (!m) {
    g_return_val_if_fail(gst_buffer_is_writable(buffer), nullptr);
    m = reinterpret_cast<GstMfMediaMeta *>(
        gst_buffer_add_meta(buffer, GST_MF_MEDIA_META_INFO, nullptr));
  }
  if (m) {
    m->seq = seq;
    m->capture_ts_ns = capture_ts_ns;
  }
  return m;
}
