// The `meshflow-peer-id` stream tag: whose stream a pad carries (webrtc_source / websocket_source
// tag every per-peer pad with it; llm_bridge reply-to=speaker re-tags each answer with the peer it
// answers). Sinks that route by it read it from the stream's tag events:
//
//   std::string peer;
//   if (GST_EVENT_TYPE (ev) == GST_EVENT_TAG && mf::peer_id_from_tag_event (ev, &peer)) ...
#pragma once

#include <gst/gst.h>

#include <string>

namespace mf {

/// The tag's name (registered as a G_TYPE_STRING meta tag by the elements that use it).
inline constexpr const char *kPeerIdTagName = "meshflow-peer-id";

/// The peer id a STREAM-scope tag event names (false: not a tag event, global scope, or no such tag).
inline bool peer_id_from_tag_event(GstEvent *ev, std::string *peer_id) {
  if (GST_EVENT_TYPE(ev) != GST_EVENT_TAG) return false;
  GstTagList *tags = nullptr;
  gst_event_parse_tag(ev, &tags);
  gchar *peer = nullptr;
  if (!tags || gst_tag_list_get_scope(tags) != GST_TAG_SCOPE_STREAM ||
      !gst_tag_list_get_string(tags, kPeerIdTagName, &peer))
    return false;
  *peer_id = peer;
  g_free(peer);
  return true;
}

}  // namespace mf
