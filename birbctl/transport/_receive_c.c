/* The receive path's per-frame work in C: what every frame of a live connection goes
 * through. Pure-Python twins hold the same rules and are used when this was not built:
 * ZlibStreamInflater in inflate.py, FrameReader in receive.py. The tests run both on
 * the same frames, good and bad, and compare results, messages and offsets.
 *
 * Nothing here parses untrusted bytes itself. ZlibStreamInflater compares the last four
 * bytes of a frame and hands the frame to zlib through the zlib module's own
 * decompressobj, always with an output bound of cap + 1 bytes; FrameReader only calls
 * the inflate and decode functions it was given. What C saves is the Python frames
 * around those calls, which cost as much as a tenth of the whole receive path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *zlib_error;         /* zlib.error */
static PyObject *zlib_decompressobj; /* zlib.decompressobj */
static PyObject *inflate_error;      /* birbctl.errors.InflateError */

static const char SUFFIX[4] = {0x00, 0x00, (char)0xff, (char)0xff};

static int
ends_message(const char *s, Py_ssize_t n)
{
    return n >= 4 && memcmp(s + n - 4, SUFFIX, 4) == 0;
}

/* The pending exception, taken off the error indicator (a new reference). */
static PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

static void
raise_object(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc); /* steals */
#else
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
#endif
}

/* raise InflateError(message, offset=offset); message is stolen. */
static void
raise_inflate_error(PyObject *message, Py_ssize_t offset)
{
    if (message == NULL) {
        return;
    }
    PyObject *args = PyTuple_Pack(1, message);
    Py_DECREF(message);
    PyObject *kwargs = Py_BuildValue("{s:n}", "offset", offset);
    PyObject *exc = NULL;
    if (args != NULL && kwargs != NULL) {
        exc = PyObject_Call(inflate_error, args, kwargs);
    }
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    if (exc != NULL) {
        raise_object(exc);
    }
}

/* ---------------------------------------------------------------- ZlibStreamInflater */

typedef struct {
    PyObject_HEAD
    PyObject *decompress; /* the connection's decompressobj().decompress */
    PyObject *buffer;     /* bytearray: the frames of a message whose end has not come */
    PyObject *limit;      /* int: cap + 1, the output bound of every decompress call */
    Py_ssize_t max;
    Py_ssize_t consumed; /* compressed bytes of completed messages, for error offsets */
} Inflater;

static int
Inflater_init(Inflater *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"max_size", "inflate", NULL};
    Py_ssize_t max;
    PyObject *inflate = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|$O", names, &max, &inflate)) {
        return -1;
    }
    if (max < 0 || max == PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_ValueError, "max_size must be between 0 and sys.maxsize - 1");
        return -1;
    }
    PyObject *made = NULL;
    if (inflate == Py_None) {
        made = inflate = PyObject_CallNoArgs(zlib_decompressobj);
        if (inflate == NULL) {
            return -1;
        }
    }
    PyObject *decompress = PyObject_GetAttrString(inflate, "decompress");
    Py_XDECREF(made);
    if (decompress == NULL) {
        return -1;
    }
    PyObject *buffer = PyByteArray_FromStringAndSize(NULL, 0);
    PyObject *limit = PyLong_FromSsize_t(max + 1);
    if (buffer == NULL || limit == NULL) {
        Py_DECREF(decompress);
        Py_XDECREF(buffer);
        Py_XDECREF(limit);
        return -1;
    }
    Py_XSETREF(self->decompress, decompress);
    Py_XSETREF(self->buffer, buffer);
    Py_XSETREF(self->limit, limit);
    self->max = max;
    self->consumed = 0;
    return 0;
}

static int
Inflater_traverse(Inflater *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->decompress);
    return 0;
}

static int
Inflater_clear(Inflater *self)
{
    Py_CLEAR(self->decompress);
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->limit);
    return 0;
}

static void
Inflater_dealloc(Inflater *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Inflater_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* One whole message's compressed bytes (size n) through zlib, bounded by cap + 1. */
static PyObject *
inflate_message(Inflater *self, PyObject *data, Py_ssize_t n)
{
    if (self->decompress == NULL) {
        PyErr_SetString(PyExc_ValueError, "ZlibStreamInflater was not initialised");
        return NULL;
    }
    PyObject *args[2] = {data, self->limit};
    PyObject *out = PyObject_Vectorcall(self->decompress, args, 2, NULL);
    if (out == NULL) {
        if (PyErr_ExceptionMatches(zlib_error)) {
            PyObject *exc = take_exception();
            raise_inflate_error(
                PyUnicode_FromFormat("corrupt zlib-stream: %S", exc), self->consumed);
            Py_XDECREF(exc);
        }
        return NULL;
    }
    Py_ssize_t size = PyObject_Length(out);
    if (size < 0) {
        Py_DECREF(out);
        return NULL;
    }
    if (size > self->max) {
        Py_DECREF(out);
        raise_inflate_error(
            PyUnicode_FromFormat("message inflates past the %zd-byte cap", self->max),
            self->consumed);
        return NULL;
    }
    self->consumed += n;
    return out;
}

static PyObject *
Inflater_feed(Inflater *self, PyObject *data)
{
    if (self->buffer == NULL) {
        PyErr_SetString(PyExc_ValueError, "ZlibStreamInflater was not initialised");
        return NULL;
    }
    Py_ssize_t have = PyByteArray_GET_SIZE(self->buffer);
    if (PyBytes_CheckExact(data) && have == 0
        && ends_message(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))) {
        /* The usual case: one frame holds exactly one message. */
        return inflate_message(self, data, PyBytes_GET_SIZE(data));
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (have == 0 && ends_message((const char *)view.buf, view.len)) {
        Py_ssize_t n = view.len;
        PyBuffer_Release(&view);
        return inflate_message(self, data, n);
    }
    if (view.len > PY_SSIZE_T_MAX - have) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    if (PyByteArray_Resize(self->buffer, have + view.len) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    memcpy(PyByteArray_AS_STRING(self->buffer) + have, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    Py_ssize_t n = PyByteArray_GET_SIZE(self->buffer);
    if (n > self->max) {
        raise_inflate_error(
            PyUnicode_FromFormat(
                "no end of message (00 00 ff ff) within %zd compressed bytes", self->max),
            self->consumed);
        return NULL;
    }
    if (!ends_message(PyByteArray_AS_STRING(self->buffer), n)) {
        Py_RETURN_NONE;
    }
    PyObject *message = inflate_message(self, self->buffer, n);
    if (message != NULL && PyByteArray_Resize(self->buffer, 0) < 0) {
        Py_CLEAR(message);
    }
    return message;
}

static PyObject *
Inflater_pending(Inflater *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->buffer == NULL ? 0 : PyByteArray_GET_SIZE(self->buffer));
}

static PyMethodDef Inflater_methods[] = {
    {"feed", (PyCFunction)Inflater_feed, METH_O,
     "Take one frame's bytes; return the message it completes, if any."},
    {"pending", (PyCFunction)Inflater_pending, METH_NOARGS,
     "Bytes received but not yet part of a completed message."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Inflater_slots[] = {
    {Py_tp_doc, "zlib-stream: a message is complete when the bytes so far end with "
                "00 00 ff ff (see inflate.py)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Inflater_init},
    {Py_tp_traverse, Inflater_traverse},
    {Py_tp_clear, Inflater_clear},
    {Py_tp_dealloc, Inflater_dealloc},
    {Py_tp_methods, Inflater_methods},
    {0, NULL},
};

static PyType_Spec Inflater_spec = {
    "birbctl.transport._receive_c.ZlibStreamInflater",
    sizeof(Inflater),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Inflater_slots,
};

/* ------------------------------------------------------------------------ FrameReader */

typedef struct {
    PyObject_HEAD
    PyObject *inflate; /* bytes -> message bytes, or None while a message spans frames */
    PyObject *decode;  /* message bytes -> payload */
    PyObject *text;    /* str frame -> payload (text frames are never compressed) */
    PyObject *catch;   /* the exception types `locate` places at the frame */
    PyObject *locate;  /* (exc, message, frame number) -> the exception to raise */
    PyObject *last_message;
    Py_ssize_t frames;
} Reader;

static int
Reader_init(Reader *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"inflate", "decode", "text", "catch", "locate", NULL};
    PyObject *inflate, *decode, *text, *catch, *locate;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OOOOO", names, &inflate, &decode, &text, &catch, &locate)) {
        return -1;
    }
    Py_INCREF(inflate);
    Py_INCREF(decode);
    Py_INCREF(text);
    Py_INCREF(catch);
    Py_INCREF(locate);
    Py_XSETREF(self->inflate, inflate);
    Py_XSETREF(self->decode, decode);
    Py_XSETREF(self->text, text);
    Py_XSETREF(self->catch, catch);
    Py_XSETREF(self->locate, locate);
    if (self->last_message == NULL) {
        self->last_message = PyBytes_FromStringAndSize(NULL, 0);
        if (self->last_message == NULL) {
            return -1;
        }
    }
    self->frames = 0;
    return 0;
}

static int
Reader_traverse(Reader *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->inflate);
    Py_VISIT(self->decode);
    Py_VISIT(self->text);
    Py_VISIT(self->catch);
    Py_VISIT(self->locate);
    Py_VISIT(self->last_message);
    return 0;
}

static int
Reader_clear(Reader *self)
{
    Py_CLEAR(self->inflate);
    Py_CLEAR(self->decode);
    Py_CLEAR(self->text);
    Py_CLEAR(self->catch);
    Py_CLEAR(self->locate);
    Py_CLEAR(self->last_message);
    return 0;
}

static void
Reader_dealloc(Reader *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Reader_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* A failure of inflate or decode: the caught kinds are placed at the frame by `locate`
 * (the message so far is handed over for JSON's error text); others pass unchanged. */
static PyObject *
located(Reader *self, PyObject *message)
{
    if (!PyErr_ExceptionMatches(self->catch)) {
        return NULL;
    }
    PyObject *exc = take_exception();
    if (exc == NULL) {
        return NULL;
    }
    PyObject *frame = PyLong_FromSsize_t(self->frames);
    if (frame == NULL) {
        Py_DECREF(exc);
        return NULL;
    }
    PyObject *args[3] = {exc, message, frame};
    PyObject *placed = PyObject_Vectorcall(self->locate, args, 3, NULL);
    Py_DECREF(exc);
    Py_DECREF(frame);
    if (placed != NULL) {
        raise_object(placed);
    }
    return NULL;
}

static PyObject *empty_bytes;

static inline PyObject *
read_frame(Reader *self, PyObject *frame, int keep)
{
    if (self->inflate == NULL) {
        PyErr_SetString(PyExc_ValueError, "FrameReader was not initialised");
        return NULL;
    }
    self->frames += 1;
    PyObject *result;
    if (PyUnicode_CheckExact(frame)) {
        if (keep) {
            Py_INCREF(frame);
            Py_SETREF(self->last_message, frame);
        }
        result = PyObject_Vectorcall(self->text, &frame, 1, NULL);
        return result != NULL ? result : located(self, empty_bytes);
    }
    PyObject *message = PyObject_Vectorcall(self->inflate, &frame, 1, NULL);
    if (message == NULL) {
        return located(self, empty_bytes);
    }
    if (message == Py_None) {
        return message;
    }
    result = PyObject_Vectorcall(self->decode, &message, 1, NULL);
    if (result == NULL) {
        located(self, message);
    }
    if (keep) {
        Py_SETREF(self->last_message, message);
    }
    else {
        Py_DECREF(message);
    }
    return result;
}

static PyObject *
Reader_feed(Reader *self, PyObject *frame)
{
    return read_frame(self, frame, 0);
}

static PyObject *
Reader_feed_kept(Reader *self, PyObject *frame)
{
    return read_frame(self, frame, 1);
}

static PyObject *
Reader_get_frames(Reader *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->frames);
}

static PyObject *
Reader_get_last(Reader *self, void *Py_UNUSED(closure))
{
    PyObject *last = self->last_message != NULL ? self->last_message : empty_bytes;
    Py_INCREF(last);
    return last;
}

static PyMethodDef Reader_methods[] = {
    {"feed", (PyCFunction)Reader_feed, METH_O,
     "The payload this frame completes, or None while a message spans frames."},
    {"feed_kept", (PyCFunction)Reader_feed_kept, METH_O,
     "feed(), also keeping the inflated message in last_message."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Reader_getset[] = {
    {"frames", (getter)Reader_get_frames, NULL, "Frames fed so far.", NULL},
    {"last_message", (getter)Reader_get_last, NULL,
     "The last message feed_kept() inflated (or the last text frame).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Reader_slots[] = {
    {Py_tp_doc, "One connection's frames in, payloads out (see receive.py)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Reader_init},
    {Py_tp_traverse, Reader_traverse},
    {Py_tp_clear, Reader_clear},
    {Py_tp_dealloc, Reader_dealloc},
    {Py_tp_methods, Reader_methods},
    {Py_tp_getset, Reader_getset},
    {0, NULL},
};

static PyType_Spec Reader_spec = {
    "birbctl.transport._receive_c.FrameReader",
    sizeof(Reader),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Reader_slots,
};

/* --------------------------------------------------------------------------- module */

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_receive_c", "The receive path's per-frame work in C.", -1, NULL,
};

/* ZlibStreamInflater.compress = Compression.ZLIB_STREAM, as the Python class has it. */
static int
set_compress(PyObject *type)
{
    PyObject *wire = PyImport_ImportModule("birbctl.protocol.wire");
    if (wire == NULL) {
        return -1;
    }
    PyObject *compression = PyObject_GetAttrString(wire, "Compression");
    Py_DECREF(wire);
    if (compression == NULL) {
        return -1;
    }
    PyObject *value = PyObject_GetAttrString(compression, "ZLIB_STREAM");
    Py_DECREF(compression);
    if (value == NULL) {
        return -1;
    }
    int rc = PyObject_SetAttrString(type, "compress", value);
    Py_DECREF(value);
    return rc;
}

PyMODINIT_FUNC
PyInit__receive_c(void)
{
    PyObject *zlib = PyImport_ImportModule("zlib");
    if (zlib == NULL) {
        return NULL;
    }
    zlib_error = PyObject_GetAttrString(zlib, "error");
    zlib_decompressobj = PyObject_GetAttrString(zlib, "decompressobj");
    Py_DECREF(zlib);
    PyObject *errors = PyImport_ImportModule("birbctl.errors");
    if (errors == NULL) {
        return NULL;
    }
    inflate_error = PyObject_GetAttrString(errors, "InflateError");
    Py_DECREF(errors);
    empty_bytes = PyBytes_FromStringAndSize(NULL, 0);
    if (zlib_error == NULL || zlib_decompressobj == NULL || inflate_error == NULL
        || empty_bytes == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    PyObject *inflater = PyType_FromSpec(&Inflater_spec);
    PyObject *reader = PyType_FromSpec(&Reader_spec);
    if (inflater == NULL || reader == NULL || set_compress(inflater) < 0
        || PyModule_AddObject(m, "ZlibStreamInflater", inflater) < 0) {
        Py_XDECREF(inflater);
        Py_XDECREF(reader);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObject(m, "FrameReader", reader) < 0) {
        Py_DECREF(reader);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
