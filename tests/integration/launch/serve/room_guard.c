/* mftestroomguard: a test-only element (a plugin built for the `serve` tests) that posts an ERROR
 * on the bus when its pipeline goes to PLAYING while its `room` equals `fail-room`. meshflow-launch
 * --serve pushes each session's room into nodes with a `room` property, so one manifest gives a
 * session that breaks in one room only.
 *
 *   GST_PLUGIN_PATH=build/tests/integration/launch \
 *     gst-launch-1.0 mftestroomguard room=a fail-room=a fakesrc ! fakesink     # -> ERROR
 */
#include <gst/gst.h>

#define GST_TYPE_TEST_ROOM_GUARD (gst_test_room_guard_get_type())
G_DECLARE_FINAL_TYPE(GstTestRoomGuard, gst_test_room_guard, GST, TEST_ROOM_GUARD, GstElement)

struct _GstTestRoomGuard {
  GstElement parent;
  gchar *room, *fail_room; /* guarded by the object lock */
};

G_DEFINE_TYPE(GstTestRoomGuard, gst_test_room_guard, GST_TYPE_ELEMENT)

enum { PROP_0, PROP_ROOM, PROP_FAIL_ROOM };

static void set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  GstTestRoomGuard *self = GST_TEST_ROOM_GUARD(o);
  GST_OBJECT_LOCK(self);
  if (id == PROP_ROOM) {
    g_free(self->room);
    self->room = g_value_dup_string(v);
  } else if (id == PROP_FAIL_ROOM) {
    g_free(self->fail_room);
    self->fail_room = g_value_dup_string(v);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  GstTestRoomGuard *self = GST_TEST_ROOM_GUARD(o);
  GST_OBJECT_LOCK(self);
  if (id == PROP_ROOM) g_value_set_string(v, self->room);
  else if (id == PROP_FAIL_ROOM) g_value_set_string(v, self->fail_room);
  else G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  GST_OBJECT_UNLOCK(self);
}

static void finalize(GObject *o) {
  GstTestRoomGuard *self = GST_TEST_ROOM_GUARD(o);
  g_free(self->room);
  g_free(self->fail_room);
  G_OBJECT_CLASS(gst_test_room_guard_parent_class)->finalize(o);
}

static GstStateChangeReturn change_state(GstElement *e, GstStateChange t) {
  GstTestRoomGuard *self = GST_TEST_ROOM_GUARD(e);
  if (t == GST_STATE_CHANGE_PAUSED_TO_PLAYING) {
    GST_OBJECT_LOCK(self);
    gboolean fail = self->room && self->fail_room && g_str_equal(self->room, self->fail_room);
    gchar *room = g_strdup(self->room);
    GST_OBJECT_UNLOCK(self);
    if (fail)
      GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("room guard: room '%s' is set to fail", room), (NULL));
    g_free(room);
  }
  return GST_ELEMENT_CLASS(gst_test_room_guard_parent_class)->change_state(e, t);
}

static void gst_test_room_guard_class_init(GstTestRoomGuardClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = set_property;
  oc->get_property = get_property;
  oc->finalize = finalize;
  g_object_class_install_property(oc, PROP_ROOM,
      g_param_spec_string("room", "Room", "Room of the session", NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property(oc, PROP_FAIL_ROOM,
      g_param_spec_string("fail-room", "Fail room", "Post an error in PLAYING when room equals this", NULL,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  ec->change_state = change_state;
  gst_element_class_set_static_metadata(ec, "Test room guard", "Testing", "Fails in one room (tests)", "Meshflow");
}

static void gst_test_room_guard_init(GstTestRoomGuard *self) { (void)self; }

static gboolean plugin_init(GstPlugin *p) {
  return gst_element_register(p, "mftestroomguard", GST_RANK_NONE, GST_TYPE_TEST_ROOM_GUARD);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, mftestroomguard, "Meshflow serve test element",
                  plugin_init, "1.0", "LGPL", "meshflow-tests", "https://example.invalid/meshflow")
