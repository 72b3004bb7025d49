// GstMfMediaMeta: per-buffer media sequencing for Meshflow transports (public, C-compatible).
//
// A transport that receives media in packets (the WebSocket media transport, a test feeder)
// attaches one GstMfMediaMeta to every buffer it pushes:
//   seq            per-stream packet counter, +1 per buffer, wraps at 2^32. Used by jitter_sync
//                  to detect duplicates and reordering.
//   capture_ts_ns  the sender's capture time of the first sample/frame of the buffer, in
//                  nanoseconds of the *sender's* clock (any epoch; one clock per peer, shared by
//                  that peer's audio and video so that jitter_sync can lip-sync them).
// Without the meta, jitter_sync falls back to GST_BUFFER_OFFSET (seq) and GST_BUFFER_PTS
// (capture time). jitter_sync puts the meta on its own output too: audio chunks carry an
// output counter and the sender capture time of their first sample; video frames keep theirs.
//
// Usage (transport side):
//   #include "sync/media_meta.h"
//   gst_buffer_add_mf_media_meta(buf, seq, capture_ts_ns);
// Reading:
//   GstMfMediaMeta *m = gst_buffer_get_mf_media_meta(buf);  // NULL when absent
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  GstMeta meta;
  guint32 seq;
  guint64 capture_ts_ns;
} GstMfMediaMeta;

GType gst_mf_media_meta_api_get_type(void);
#define GST_MF_MEDIA_META_API_TYPE (gst_mf_media_meta_api_get_type())

const GstMetaInfo *gst_mf_media_meta_get_info(void);
#define GST_MF_MEDIA_META_INFO (gst_mf_media_meta_get_info())

#define gst_buffer_get_mf_media_meta(b) \
  ((GstMfMediaMeta *)gst_buffer_get_meta((b), GST_MF_MEDIA_META_API_TYPE))

/// Adds (or, if one is present, overwrites) the meta. `buffer` must be writable.
GstMfMediaMeta *gst_buffer_add_mf_media_meta(GstBuffer *buffer, guint32 seq,
                                             guint64 capture_ts_ns);

G_END_DECLS
