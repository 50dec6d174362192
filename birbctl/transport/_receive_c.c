/* The receive path's per-frame work in C: what every frame of a live connection goes
 * through. Pure-Python twins hold the same rules and are used when this was not built:
 * ZlibStreamInflater and ZstdStreamInflater (with _ZstdBlockTracker) in inflate.py,
 * FrameReader in receive.py. The tests run both on the same frames, good and bad, and
 * compare results, messages and offsets.
 *
 * ZlibStreamInflater compares the last four bytes of a frame and hands the frame to zlib
 * through the zlib module's own decompressobj, always with an output bound of cap + 1
 * bytes; FrameReader only calls the inflate and decode functions it was given.
 * ZstdStreamInflater hands every frame to the zstd module's own ZstdDecompressor with
 * the Python twin's bounds; the one place here that reads untrusted bytes itself is its
 * header walker (zstd frame and block headers only: every read is bounds-checked, sizes
 * are at most 21 bits for blocks and 32 bits for skippable frames, and nothing recurses).
 * What C saves is the Python frames around those calls, which cost as much as a tenth
 * of the whole receive path (a sixth on zstd-stream).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *zlib_error;         /* zlib.error */
static PyObject *zlib_decompressobj; /* zlib.decompressobj */
static PyObject *inflate_error;      /* birbctl.errors.InflateError */
static PyObject *empty_bytes;

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

/* ---------------------------------------------------------------- ZstdStreamInflater */

/* _ZstdBlockTracker (inflate.py): follows zstd frame and block headers, so that "all
 * bytes so far end a block" can stand for zlib's 00 00 ff ff. Same stages, same state
 * after an error (the tests keep feeding a broken context), same messages and offsets
 * (a position in the frame being fed; the inflater adds the bytes before it). */

enum { STAGE_MAGIC, STAGE_FRAME_HEADER, STAGE_SKIPPABLE, STAGE_BLOCK_HEADER, STAGE_SKIP };

#define ZSTD_MAGIC 0xFD2FB528u
#define ZSTD_SKIPPABLE 0x184D2A50u /* the low four bits are free */
/* Frame header descriptor, window descriptor, dictionary id (up to 4), content size
 * (up to 8): no stage wants more header bytes than this. */
#define ZSTD_HEADER_MAX 14

typedef struct {
    unsigned char header[ZSTD_HEADER_MAX]; /* partial header bytes */
    int have;                              /* of them */
    int want;                              /* header bytes wanted by the current stage */
    int stage;
    int after_skip;          /* the stage after the payload being passed over */
    int checksum;            /* the current zstd frame ends with a 4-byte checksum */
    unsigned long long skip; /* payload bytes to pass over: a skippable frame's may be
                                4 GiB - 1, past a 32-bit Py_ssize_t */
} Tracker;

static void
tracker_reset(Tracker *t)
{
    memset(t, 0, sizeof(*t));
    t->stage = STAGE_MAGIC;
    t->after_skip = STAGE_BLOCK_HEADER;
    t->want = 4;
}

static int
tracker_at_boundary(const Tracker *t)
{
    return t->skip == 0 && t->have == 0
           && (t->stage == STAGE_MAGIC || t->stage == STAGE_BLOCK_HEADER);
}

static void
tracker_skip_then(Tracker *t, unsigned long long count, int stage)
{
    t->after_skip = stage;
    if (count) {
        t->skip = count;
        t->stage = STAGE_SKIP;
    }
    else {
        t->stage = stage;
        t->want = stage == STAGE_MAGIC ? 4 : 3;
    }
}

static void
raise_reserved_block(Py_ssize_t offset)
{
    raise_inflate_error(
        PyUnicode_FromString("corrupt zstd-stream: reserved block type"), offset);
}

/* A stage's header is complete (position: where it ended in the frame being fed). */
static int
tracker_advance(Tracker *t, Py_ssize_t position)
{
    const unsigned char *h = t->header;
    int have = t->have;
    t->have = 0;
    switch (t->stage) {
    case STAGE_MAGIC: {
        unsigned long magic = (unsigned long)h[0] | (unsigned long)h[1] << 8
                              | (unsigned long)h[2] << 16 | (unsigned long)h[3] << 24;
        if (magic == ZSTD_MAGIC) {
            t->stage = STAGE_FRAME_HEADER;
            t->want = 1;
        }
        else if ((magic & 0xFFFFFFF0u) == ZSTD_SKIPPABLE) { /* 4-byte size, then data */
            t->stage = STAGE_SKIPPABLE;
            t->want = 4;
        }
        else {
            char text[64];
            PyOS_snprintf(text, sizeof(text), "not a zstd frame (magic 0x%08lx)", magic);
            raise_inflate_error(PyUnicode_FromString(text), position - 4);
            return -1;
        }
        return 0;
    }
    case STAGE_SKIPPABLE: {
        unsigned long long size = (unsigned long long)h[0] | (unsigned long long)h[1] << 8
                                  | (unsigned long long)h[2] << 16
                                  | (unsigned long long)h[3] << 24;
        tracker_skip_then(t, size, STAGE_MAGIC);
        return 0;
    }
    case STAGE_FRAME_HEADER:
        if (have == 1) {
            /* The descriptor says how many header bytes follow: window descriptor
             * unless single-segment, dictionary id, content size. */
            static const int dictionary[4] = {0, 1, 2, 4};
            static const int content[4] = {0, 2, 4, 8};
            int fhd = h[0];
            int single = (fhd >> 5) & 1;
            int rest = (single ? 0 : 1) + dictionary[fhd & 3];
            rest += (fhd >> 6) == 0 ? single : content[fhd >> 6];
            t->checksum = (fhd >> 2) & 1;
            if (rest) {
                t->want = 1 + rest;
                t->have = 1; /* header[0] is still the descriptor */
                return 0;
            }
        }
        t->stage = STAGE_BLOCK_HEADER;
        t->want = 3;
        return 0;
    case STAGE_BLOCK_HEADER: {
        unsigned long value =
            (unsigned long)h[0] | (unsigned long)h[1] << 8 | (unsigned long)h[2] << 16;
        unsigned long kind = (value >> 1) & 3;
        if (kind == 3) {
            raise_reserved_block(position - 3);
            return -1;
        }
        /* An RLE block carries one byte; the size (21 bits) is what it expands to. */
        unsigned long long body = kind == 1 ? 1 : value >> 3;
        if (value & 1) { /* the frame's last block: then its checksum, then a magic */
            tracker_skip_then(t, body + 4 * (unsigned long long)t->checksum, STAGE_MAGIC);
        }
        else {
            tracker_skip_then(t, body, STAGE_BLOCK_HEADER);
        }
        return 0;
    }
    default:
        PyErr_SetString(PyExc_SystemError, "zstd header walker in an unknown stage");
        return -1;
    }
}

static int
tracker_feed(Tracker *t, const unsigned char *data, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (t->stage == STAGE_BLOCK_HEADER && t->have == 0) {
        /* The usual frame: whole block headers, each followed by its block, read
         * straight off the frame. A frame's last block, or a header cut between frames,
         * goes on in the walker below from where this stopped. */
        while (n - i >= 3) {
            unsigned long value = (unsigned long)data[i] | (unsigned long)data[i + 1] << 8
                                  | (unsigned long)data[i + 2] << 16;
            if (value & 1) {
                break;
            }
            unsigned long kind = (value >> 1) & 3;
            if (kind == 3) {
                raise_reserved_block(i);
                return -1;
            }
            Py_ssize_t step = 3 + (kind == 1 ? 1 : (Py_ssize_t)(value >> 3));
            if (step > n - i) { /* the block goes on in the next frame */
                tracker_skip_then(
                    t, (unsigned long long)(step - (n - i)), STAGE_BLOCK_HEADER);
                return 0;
            }
            i += step;
        }
        if (i == n) {
            return 0;
        }
    }
    while (i < n) {
        if (t->skip) {
            Py_ssize_t step = (unsigned long long)(n - i) < t->skip ? n - i
                                                                    : (Py_ssize_t)t->skip;
            t->skip -= (unsigned long long)step;
            i += step;
            if (t->skip == 0) {
                t->stage = t->after_skip;
                t->want = t->stage == STAGE_MAGIC ? 4 : 3;
            }
            continue;
        }
        /* have < want <= ZSTD_HEADER_MAX here: every stage leaves room for a byte. */
        Py_ssize_t take = t->want - t->have;
        if (take > n - i) {
            take = n - i;
        }
        memcpy(t->header + t->have, data + i, (size_t)take);
        t->have += (int)take;
        i += take;
        if (t->have == t->want && tracker_advance(t, i) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *str_decompress; /* interned method and attribute names */
static PyObject *str_eof;
static PyObject *str_unused_data;
static PyObject *str_join;

typedef struct {
    PyObject_HEAD
    PyObject *make_decompressor; /* the zstd module's ZstdDecompressor */
    PyObject *zstd_error;        /* the zstd module's ZstdError */
    PyObject *decompressor;      /* the current zstd frame's */
    PyObject *out;               /* list: the pieces of the message under way */
    PyObject *limit;             /* int: cap + 1, the bound while no piece is held */
    Py_ssize_t out_size;         /* bytes in `out` */
    Py_ssize_t in_size;          /* compressed bytes since the last completed message */
    Py_ssize_t max;
    Py_ssize_t consumed; /* compressed bytes of completed messages, for error offsets */
    Tracker tracker;
} ZstdInflater;

/* birbctl.transport.inflate._zstd_module(): compression.zstd or backports.zstd, looked
 * up when an inflater is made, so that importing this module never needs zstd. */
static PyObject *
default_zstd_module(void)
{
    PyObject *inflate = PyImport_ImportModule("birbctl.transport.inflate");
    if (inflate == NULL) {
        return NULL;
    }
    PyObject *lookup = PyObject_GetAttrString(inflate, "_zstd_module");
    Py_DECREF(inflate);
    if (lookup == NULL) {
        return NULL;
    }
    PyObject *zstd = PyObject_CallNoArgs(lookup);
    Py_DECREF(lookup);
    return zstd;
}

/* ZstdStreamInflater(max_size, *, zstd=None): `zstd` stands in for the zstd module, as
 * in Python (tests count what goes through its decompressors). */
static int
ZstdInflater_init(ZstdInflater *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"max_size", "zstd", NULL};
    Py_ssize_t max;
    PyObject *zstd = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|$O", names, &max, &zstd)) {
        return -1;
    }
    if (max < 0 || max == PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_ValueError, "max_size must be between 0 and sys.maxsize - 1");
        return -1;
    }
    if (zstd == Py_None) {
        zstd = default_zstd_module();
        if (zstd == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(zstd);
    }
    PyObject *make = PyObject_GetAttrString(zstd, "ZstdDecompressor");
    PyObject *error = make == NULL ? NULL : PyObject_GetAttrString(zstd, "ZstdError");
    Py_DECREF(zstd);
    PyObject *decompressor = error == NULL ? NULL : PyObject_CallNoArgs(make);
    PyObject *out = decompressor == NULL ? NULL : PyList_New(0);
    PyObject *limit = out == NULL ? NULL : PyLong_FromSsize_t(max + 1);
    if (limit == NULL) {
        Py_XDECREF(make);
        Py_XDECREF(error);
        Py_XDECREF(decompressor);
        Py_XDECREF(out);
        return -1;
    }
    Py_XSETREF(self->make_decompressor, make);
    Py_XSETREF(self->zstd_error, error);
    Py_XSETREF(self->decompressor, decompressor);
    Py_XSETREF(self->out, out);
    Py_XSETREF(self->limit, limit);
    self->out_size = 0;
    self->in_size = 0;
    self->max = max;
    self->consumed = 0;
    tracker_reset(&self->tracker);
    return 0;
}

static int
ZstdInflater_traverse(ZstdInflater *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->make_decompressor);
    Py_VISIT(self->zstd_error);
    Py_VISIT(self->decompressor);
    Py_VISIT(self->out);
    return 0;
}

static int
ZstdInflater_clear(ZstdInflater *self)
{
    Py_CLEAR(self->make_decompressor);
    Py_CLEAR(self->zstd_error);
    Py_CLEAR(self->decompressor);
    Py_CLEAR(self->out);
    Py_CLEAR(self->limit);
    return 0;
}

static void
ZstdInflater_dealloc(ZstdInflater *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    ZstdInflater_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static void
raise_over_cap(ZstdInflater *self)
{
    raise_inflate_error(
        PyUnicode_FromFormat("message inflates past the %zd-byte cap", self->max),
        self->consumed);
}

/* A piece of the message under way (the Python twin's _append): kept, then the cap. */
static int
keep_piece(ZstdInflater *self, PyObject *piece, Py_ssize_t size)
{
    if (size == 0) {
        return 0;
    }
    if (PyList_Append(self->out, piece) < 0) {
        return -1;
    }
    self->out_size += size; /* both are sizes of objects in memory: no overflow */
    if (self->out_size > self->max) {
        raise_over_cap(self);
        return -1;
    }
    return 0;
}

/* decompressor.decompress(chunk, cap - bytes held + 1); ZstdError becomes InflateError
 * at the start of the message under way. */
static PyObject *
decompress_chunk(ZstdInflater *self, PyObject *decompressor, PyObject *chunk)
{
    PyObject *limit;
    if (self->out_size == 0) {
        limit = Py_NewRef(self->limit);
    }
    else {
        /* max < PY_SSIZE_T_MAX and out_size >= 0: cannot overflow. Past a cap error
         * this may be 0 or below (no bound), as it is in Python. */
        limit = PyLong_FromSsize_t(self->max - self->out_size + 1);
        if (limit == NULL) {
            return NULL;
        }
    }
    PyObject *args[3] = {decompressor, chunk, limit};
    PyObject *out = PyObject_VectorcallMethod(str_decompress, args, 3, NULL);
    Py_DECREF(limit);
    if (out == NULL && PyErr_ExceptionMatches(self->zstd_error)) {
        PyObject *exc = take_exception();
        raise_inflate_error(
            PyUnicode_FromFormat("corrupt zstd-stream: %S", exc), self->consumed);
        Py_XDECREF(exc);
    }
    return out;
}

static Py_ssize_t
piece_size(PyObject *piece)
{
    return PyBytes_CheckExact(piece) ? PyBytes_GET_SIZE(piece) : PyObject_Length(piece);
}

/* The walker counts offsets from the first byte of the frame it was fed: an
 * InflateError it raised gets `base`, the stream's bytes before that frame, added. */
static void
shift_offset(Py_ssize_t base)
{
    if (!PyErr_ExceptionMatches(inflate_error)) {
        return;
    }
    PyObject *exc = take_exception();
    if (exc == NULL) {
        return;
    }
    PyObject *offset = PyObject_GetAttrString(exc, "offset");
    PyObject *shifted = NULL;
    if (offset != NULL) {
        PyObject *add = PyLong_FromSsize_t(base);
        if (add != NULL) {
            shifted = offset == Py_None ? Py_NewRef(add) : PyNumber_Add(offset, add);
            Py_DECREF(add);
        }
        Py_DECREF(offset);
    }
    if (shifted == NULL || PyObject_SetAttrString(exc, "offset", shifted) < 0) {
        Py_XDECREF(shifted);
        Py_DECREF(exc);
        return;
    }
    Py_DECREF(shifted);
    raise_object(exc);
}

/* Goes through the frame as ZstdStreamInflater.feed does: the decompressor gets it
 * whole (and, past the end of a zstd frame, what is left goes to a new one); the
 * message is complete when the header walker is on a block boundary. */
static PyObject *
ZstdInflater_feed(ZstdInflater *self, PyObject *data)
{
    if (self->out == NULL) {
        PyErr_SetString(PyExc_ValueError, "ZstdStreamInflater was not initialised");
        return NULL;
    }
    Py_ssize_t n;
    int walked;
    if (PyBytes_CheckExact(data)) {
        n = PyBytes_GET_SIZE(data);
        walked = tracker_feed(&self->tracker, (unsigned char *)PyBytes_AS_STRING(data), n);
    }
    else {
        Py_buffer view;
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        n = view.len;
        walked = tracker_feed(&self->tracker, (const unsigned char *)view.buf, n);
        PyBuffer_Release(&view);
    }
    if (walked < 0) {
        shift_offset(self->consumed + self->in_size);
        return NULL;
    }
    if (n > PY_SSIZE_T_MAX - self->in_size) {
        return PyErr_NoMemory();
    }
    self->in_size += n;
    PyObject *chunk = Py_NewRef(data);
    PyObject *decompressor = NULL; /* the one `chunk` goes to, held across the call */
    PyObject *out = NULL;
    int more = n > 0;
    while (more) {
        decompressor = Py_NewRef(self->decompressor);
        out = decompress_chunk(self, decompressor, chunk);
        if (out == NULL) {
            goto fail;
        }
        PyObject *eof_flag = PyObject_GetAttr(decompressor, str_eof);
        if (eof_flag == NULL) {
            goto fail;
        }
        int eof = PyObject_IsTrue(eof_flag);
        Py_DECREF(eof_flag);
        Py_ssize_t size = eof < 0 ? -1 : piece_size(out);
        if (size < 0) {
            goto fail;
        }
        if (!eof) {
            if (size > 0 && PyList_GET_SIZE(self->out) == 0
                && tracker_at_boundary(&self->tracker) && size <= self->max) {
                /* The usual frame: one whole message, flushed. No list, no join. */
                self->consumed += self->in_size;
                self->in_size = 0;
                Py_DECREF(decompressor);
                Py_DECREF(chunk);
                return out;
            }
            if (keep_piece(self, out, size) < 0) {
                goto fail;
            }
            Py_CLEAR(out);
            Py_CLEAR(decompressor);
            break;
        }
        /* The end of a zstd frame: what follows it goes to a new decompressor (and the
         * finished one stays if the cap stops this, as in Python). */
        if (keep_piece(self, out, size) < 0) {
            goto fail;
        }
        Py_CLEAR(out);
        Py_SETREF(chunk, PyObject_GetAttr(decompressor, str_unused_data));
        if (chunk == NULL) {
            goto fail;
        }
        PyObject *fresh = PyObject_CallNoArgs(self->make_decompressor);
        if (fresh == NULL) {
            goto fail;
        }
        Py_SETREF(self->decompressor, fresh);
        Py_CLEAR(decompressor);
        more = PyObject_IsTrue(chunk);
        if (more < 0) {
            goto fail;
        }
    }
    Py_DECREF(chunk);
    Py_ssize_t pieces = PyList_GET_SIZE(self->out);
    if (!tracker_at_boundary(&self->tracker) || pieces == 0) {
        if (self->in_size > self->max) {
            raise_inflate_error(
                PyUnicode_FromFormat(
                    "no end of message within %zd compressed bytes", self->max),
                self->consumed);
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *message = pieces == 1
                            ? Py_NewRef(PyList_GET_ITEM(self->out, 0))
                            : PyObject_CallMethodOneArg(empty_bytes, str_join, self->out);
    if (message == NULL || PyList_SetSlice(self->out, 0, pieces, NULL) < 0) {
        Py_XDECREF(message);
        return NULL;
    }
    self->out_size = 0;
    self->consumed += self->in_size;
    self->in_size = 0;
    return message;

fail:
    Py_XDECREF(out);
    Py_XDECREF(decompressor);
    Py_XDECREF(chunk);
    return NULL;
}

static PyObject *
ZstdInflater_pending(ZstdInflater *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->in_size);
}

static PyMethodDef ZstdInflater_methods[] = {
    {"feed", (PyCFunction)ZstdInflater_feed, METH_O,
     "Take one frame's bytes; return the message it completes, if any."},
    {"pending", (PyCFunction)ZstdInflater_pending, METH_NOARGS,
     "Bytes received but not yet part of a completed message."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot ZstdInflater_slots[] = {
    {Py_tp_doc, "zstd-stream: a message is complete when the bytes so far end a zstd "
                "block (see inflate.py)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, ZstdInflater_init},
    {Py_tp_traverse, ZstdInflater_traverse},
    {Py_tp_clear, ZstdInflater_clear},
    {Py_tp_dealloc, ZstdInflater_dealloc},
    {Py_tp_methods, ZstdInflater_methods},
    {0, NULL},
};

static PyType_Spec ZstdInflater_spec = {
    "birbctl.transport._receive_c.ZstdStreamInflater",
    sizeof(ZstdInflater),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    ZstdInflater_slots,
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
    Py_ssize_t received; /* bytes of the frames, as they came (text: UTF-8) */
    Py_ssize_t inflated; /* bytes of the messages they completed */
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
    self->received = 0;
    self->inflated = 0;
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

/* The UTF-8 size of a str, a lone surrogate counting 3 bytes (as "surrogatepass"). */
static Py_ssize_t
utf8_size(PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {
        return n;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        size += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    return size;
}

/* len() of a frame or message: bytes in the usual case. */
static inline Py_ssize_t
size_of(PyObject *data)
{
    return PyBytes_CheckExact(data) ? PyBytes_GET_SIZE(data) : PyObject_Length(data);
}

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
        Py_ssize_t size = utf8_size(frame);
        self->received += size;
        self->inflated += size;
        result = PyObject_Vectorcall(self->text, &frame, 1, NULL);
        return result != NULL ? result : located(self, empty_bytes);
    }
    Py_ssize_t size = size_of(frame);
    if (size < 0) {
        return NULL;
    }
    self->received += size;
    PyObject *message = PyObject_Vectorcall(self->inflate, &frame, 1, NULL);
    if (message == NULL) {
        return located(self, empty_bytes);
    }
    if (message == Py_None) {
        return message;
    }
    size = size_of(message);
    if (size < 0) {
        Py_DECREF(message);
        return NULL;
    }
    self->inflated += size;
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
Reader_get_received(Reader *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->received);
}

static PyObject *
Reader_get_inflated(Reader *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->inflated);
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
    {"received_bytes", (getter)Reader_get_received, NULL,
     "Bytes of the frames fed so far, as they came (text frames as UTF-8).", NULL},
    {"inflated_bytes", (getter)Reader_get_inflated, NULL,
     "Bytes of the messages those frames completed.", NULL},
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

/* type.compress = Compression.<member>, as the Python classes have it. */
static int
set_compress(PyObject *type, const char *member)
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
    PyObject *value = PyObject_GetAttrString(compression, member);
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
    str_decompress = PyUnicode_InternFromString("decompress");
    str_eof = PyUnicode_InternFromString("eof");
    str_unused_data = PyUnicode_InternFromString("unused_data");
    str_join = PyUnicode_InternFromString("join");
    if (zlib_error == NULL || zlib_decompressobj == NULL || inflate_error == NULL
        || empty_bytes == NULL || str_decompress == NULL || str_eof == NULL
        || str_unused_data == NULL || str_join == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    PyObject *inflater = PyType_FromSpec(&Inflater_spec);
    PyObject *zstd_inflater = PyType_FromSpec(&ZstdInflater_spec);
    PyObject *reader = PyType_FromSpec(&Reader_spec);
    if (inflater == NULL || zstd_inflater == NULL || reader == NULL
        || set_compress(inflater, "ZLIB_STREAM") < 0
        || set_compress(zstd_inflater, "ZSTD_STREAM") < 0
        || PyModule_AddObject(m, "ZlibStreamInflater", inflater) < 0) {
        Py_XDECREF(inflater);
        Py_XDECREF(zstd_inflater);
        Py_XDECREF(reader);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObject(m, "ZstdStreamInflater", zstd_inflater) < 0) {
        Py_DECREF(zstd_inflater);
        Py_DECREF(reader);
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
