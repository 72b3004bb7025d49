#include "meshflow/signalling/counting_stream.h"

namespace mf::signalling {
namespace {

// ---- input: GFilterInputStream + GPollableInputStream -----------------------------------------

struct CountingInput {
  GFilterInputStream parent;
  StreamBudget *budget;
  GSource *idle;
};
struct CountingInputClass {
  GFilterInputStreamClass parent_class;
};

GType counting_input_get_type();
void counting_input_pollable_init(GPollableInputStreamInterface *iface);
G_DEFINE_TYPE_WITH_CODE(CountingInput, counting_input, G_TYPE_FILTER_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                              counting_input_pollable_init))

#define COUNTING_INPUT(o) (G_TYPE_CHECK_INSTANCE_CAST((o), counting_input_get_type(), CountingInput))

GInputStream *base_in(gpointer self) {
  return g_filter_input_stream_get_base_stream(G_FILTER_INPUT_STREAM(self));
}

gboolean fire_exceeded(gpointer data) {
  CountingInput *self = COUNTING_INPUT(data);
  g_clear_pointer(&self->idle, g_source_unref);
  if (self->budget && self->budget->on_exceeded) {
    auto cb = self->budget->on_exceeded;  // may detach/free the budget
    cb();
  }
  return G_SOURCE_REMOVE;
}

// Accounts n bytes just read; returns true when they may be handed to libsoup.
bool account(CountingInput *self, gssize n) {
  StreamBudget *b = self->budget;
  if (!b || n <= 0) return true;
  b->read_total += uint64_t(n);
  b->read_since_message += uint64_t(n);
  if (!b->exceeded && b->limit && b->read_since_message > b->limit) {
    b->exceeded = true;
    // On the server's context, never the global default one.
    self->idle = g_idle_source_new();
    g_source_set_priority(self->idle, G_PRIORITY_HIGH);
    g_source_set_callback(self->idle, fire_exceeded, g_object_ref(self), g_object_unref);
    g_source_attach(self->idle, b->context ? b->context : g_main_context_get_thread_default());
    return false;
  }
  return !b->exceeded;
}

// Over budget: drain the socket and drop the bytes, so libsoup reassembles nothing more. EOF and
// errors are passed through so the connection still ends.
gssize drain(CountingInput *self, GError **error) {
  guint8 scratch[4096];
  gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(base_in(self)),
                                                      scratch, sizeof scratch, nullptr, error);
  if (n <= 0) return n;
  if (self->budget) self->budget->read_total += uint64_t(n);
  g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "over budget: draining");
  return -1;
}

gssize counting_input_read(GInputStream *stream, void *buffer, gsize count,
                           GCancellable *cancellable, GError **error) {
  CountingInput *self = COUNTING_INPUT(stream);
  if (self->budget && self->budget->exceeded) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "message too large");
    return -1;
  }
  gssize n = g_input_stream_read(base_in(self), buffer, count, cancellable, error);
  if (!account(self, n)) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "message too large");
    return -1;
  }
  return n;
}

gssize counting_input_read_nonblocking(GPollableInputStream *stream, void *buffer, gsize count,
                                       GError **error) {
  CountingInput *self = COUNTING_INPUT(stream);
  if (self->budget && self->budget->exceeded) return drain(self, error);
  gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(base_in(self)),
                                                      buffer, count, nullptr, error);
  if (!account(self, n)) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "over budget");
    return -1;
  }
  return n;
}

gboolean counting_input_can_poll(GPollableInputStream *stream) {
  GInputStream *b = base_in(stream);
  return G_IS_POLLABLE_INPUT_STREAM(b) &&
         g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(b));
}

gboolean counting_input_is_readable(GPollableInputStream *stream) {
  return g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(base_in(stream)));
}

GSource *counting_input_create_source(GPollableInputStream *stream, GCancellable *cancellable) {
  GSource *base =
      g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(base_in(stream)), nullptr);
  GSource *src = g_pollable_source_new_full(stream, base, cancellable);
  g_source_unref(base);
  return src;
}

void counting_input_pollable_init(GPollableInputStreamInterface *iface) {
  iface->can_poll = counting_input_can_poll;
  iface->is_readable = counting_input_is_readable;
  iface->create_source = counting_input_create_source;
  iface->read_nonblocking = counting_input_read_nonblocking;
}

void counting_input_dispose(GObject *obj) {
  CountingInput *self = COUNTING_INPUT(obj);
  if (self->idle) {
    g_source_destroy(self->idle);
    g_clear_pointer(&self->idle, g_source_unref);
  }
  G_OBJECT_CLASS(counting_input_parent_class)->dispose(obj);
}

void counting_input_class_init(CountingInputClass *klass) {
  G_OBJECT_CLASS(klass)->dispose = counting_input_dispose;
  G_INPUT_STREAM_CLASS(klass)->read_fn = counting_input_read;
}
void counting_input_init(CountingInput *self) {
  self->budget = nullptr;
  self->idle = nullptr;
}

// ---- output: GFilterOutputStream + GPollableOutputStream --------------------------------------

struct CountingOutput {
  GFilterOutputStream parent;
  StreamBudget *budget;
};
struct CountingOutputClass {
  GFilterOutputStreamClass parent_class;
};
GType counting_output_get_type();
void counting_output_pollable_init(GPollableOutputStreamInterface *iface);
G_DEFINE_TYPE_WITH_CODE(CountingOutput, counting_output, G_TYPE_FILTER_OUTPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_OUTPUT_STREAM,
                                              counting_output_pollable_init))
#define COUNTING_OUTPUT(o) \
  (G_TYPE_CHECK_INSTANCE_CAST((o), counting_output_get_type(), CountingOutput))

GOutputStream *base_out(gpointer self) {
  return g_filter_output_stream_get_base_stream(G_FILTER_OUTPUT_STREAM(self));
}

gssize counting_output_write(GOutputStream *stream, const void *buffer, gsize count,
                             GCancellable *cancellable, GError **error) {
  CountingOutput *self = COUNTING_OUTPUT(stream);
  gssize n = g_output_stream_write(base_out(self), buffer, count, cancellable, error);
  if (n > 0 && self->budget) self->budget->written_total += uint64_t(n);
  return n;
}

gboolean counting_output_flush(GOutputStream *stream, GCancellable *cancellable, GError **error) {
  return g_output_stream_flush(base_out(stream), cancellable, error);
}

gssize counting_output_write_nonblocking(GPollableOutputStream *stream, const void *buffer,
                                         gsize count, GError **error) {
  CountingOutput *self = COUNTING_OUTPUT(stream);
  gssize n = g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(base_out(self)),
                                                        buffer, count, nullptr, error);
  if (n > 0 && self->budget) self->budget->written_total += uint64_t(n);
  return n;
}

gboolean counting_output_can_poll(GPollableOutputStream *stream) {
  GOutputStream *b = base_out(stream);
  return G_IS_POLLABLE_OUTPUT_STREAM(b) &&
         g_pollable_output_stream_can_poll(G_POLLABLE_OUTPUT_STREAM(b));
}
gboolean counting_output_is_writable(GPollableOutputStream *stream) {
  return g_pollable_output_stream_is_writable(G_POLLABLE_OUTPUT_STREAM(base_out(stream)));
}
GSource *counting_output_create_source(GPollableOutputStream *stream, GCancellable *cancellable) {
  GSource *base =
      g_pollable_output_stream_create_source(G_POLLABLE_OUTPUT_STREAM(base_out(stream)), nullptr);
  GSource *src = g_pollable_source_new_full(stream, base, cancellable);
  g_source_unref(base);
  return src;
}
void counting_output_pollable_init(GPollableOutputStreamInterface *iface) {
  iface->can_poll = counting_output_can_poll;
  iface->is_writable = counting_output_is_writable;
  iface->create_source = counting_output_create_source;
  iface->write_nonblocking = counting_output_write_nonblocking;
}
void counting_output_class_init(CountingOutputClass *klass) {
  G_OUTPUT_STREAM_CLASS(klass)->write_fn = counting_output_write;
  G_OUTPUT_STREAM_CLASS(klass)->flush = counting_output_flush;
}
void counting_output_init(CountingOutput *self) { self->budget = nullptr; }

// ---- the GIOStream ------------------------------------------------------------------------------

struct CountingIO {
  GIOStream parent;
  GIOStream *base;
  GInputStream *in;
  GOutputStream *out;
};
struct CountingIOClass {
  GIOStreamClass parent_class;
};
GType counting_io_get_type();
G_DEFINE_TYPE(CountingIO, counting_io, G_TYPE_IO_STREAM)
#define COUNTING_IO(o) (G_TYPE_CHECK_INSTANCE_CAST((o), counting_io_get_type(), CountingIO))

GInputStream *counting_io_get_input(GIOStream *s) { return COUNTING_IO(s)->in; }
GOutputStream *counting_io_get_output(GIOStream *s) { return COUNTING_IO(s)->out; }

gboolean counting_io_close(GIOStream *s, GCancellable *cancellable, GError **error) {
  return g_io_stream_close(COUNTING_IO(s)->base, cancellable, error);
}

void base_closed(GObject *src, GAsyncResult *res, gpointer data) {
  GTask *task = G_TASK(data);
  GError *err = nullptr;
  if (g_io_stream_close_finish(G_IO_STREAM(src), res, &err))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, err);
  g_object_unref(task);
}

void counting_io_close_async(GIOStream *s, int prio, GCancellable *cancellable,
                             GAsyncReadyCallback cb, gpointer data) {
  GTask *task = g_task_new(s, cancellable, cb, data);
  g_io_stream_close_async(COUNTING_IO(s)->base, prio, cancellable, base_closed, task);
}

gboolean counting_io_close_finish(GIOStream *s, GAsyncResult *res, GError **error) {
  return g_task_propagate_boolean(G_TASK(res), error);
}

void counting_io_dispose(GObject *obj) {
  CountingIO *self = COUNTING_IO(obj);
  g_clear_object(&self->in);
  g_clear_object(&self->out);
  g_clear_object(&self->base);
  G_OBJECT_CLASS(counting_io_parent_class)->dispose(obj);
}

void counting_io_class_init(CountingIOClass *klass) {
  G_OBJECT_CLASS(klass)->dispose = counting_io_dispose;
  GIOStreamClass *io = G_IO_STREAM_CLASS(klass);
  io->get_input_stream = counting_io_get_input;
  io->get_output_stream = counting_io_get_output;
  io->close_fn = counting_io_close;
  io->close_async = counting_io_close_async;
  io->close_finish = counting_io_close_finish;
}
void counting_io_init(CountingIO *self) {
  self->base = nullptr;
  self->in = nullptr;
  self->out = nullptr;
}

}  // namespace

GIOStream *counting_io_stream_new(GIOStream *base, StreamBudget *budget) {
  CountingIO *io = COUNTING_IO(g_object_new(counting_io_get_type(), nullptr));
  io->base = G_IO_STREAM(g_object_ref(base));
  CountingInput *in = COUNTING_INPUT(g_object_new(counting_input_get_type(), "base-stream",
                                                  g_io_stream_get_input_stream(base),
                                                  "close-base-stream", FALSE, nullptr));
  in->budget = budget;
  CountingOutput *out = COUNTING_OUTPUT(g_object_new(counting_output_get_type(), "base-stream",
                                                     g_io_stream_get_output_stream(base),
                                                     "close-base-stream", FALSE, nullptr));
  out->budget = budget;
  io->in = G_INPUT_STREAM(in);
  io->out = G_OUTPUT_STREAM(out);
  return G_IO_STREAM(io);
}

void counting_io_stream_detach(GIOStream *stream) {
  CountingIO *io = COUNTING_IO(stream);
  CountingInput *in = COUNTING_INPUT(io->in);
  in->budget = nullptr;
  if (in->idle) {
    g_source_destroy(in->idle);
    g_clear_pointer(&in->idle, g_source_unref);
  }
  COUNTING_OUTPUT(io->out)->budget = nullptr;
}

void counting_io_stream_abort(GIOStream *stream) {
  CountingIO *io = COUNTING_IO(stream);
  if (!g_io_stream_is_closed(io->base)) g_io_stream_close(io->base, nullptr, nullptr);
}

}  // namespace mf::signalling
