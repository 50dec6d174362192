/* Fast paths for reading capture lines (docs/capture-format.md); fastpath.py holds the
 * pure-Python equivalents, used when this was not built.
 *
 * b64decode: strict base64, about four times faster than binascii. Captures store every
 * binary frame as base64, so decoding them is a large part of reading one. Strict: the
 * length must be a multiple of 4, every character in the standard alphabet, padding
 * only at the end ("=" or "=="). Anything else raises ValueError; the caller then falls
 * back to binascii, which has the last word.
 *
 * recv_frame: a received binary frame's line in the exact layout CaptureWriter writes,
 * read without a JSON parse: one call instead of the half-dozen Python-level checks,
 * slices and conversions it replaces, which cost more than the base64 itself. Anything
 * unexpected returns None and the caller parses the line as JSON.
 *
 * Every output size is computed from the input length before writing, and every read is
 * inside the input buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static signed char TABLE[256];

/* Strict base64 of s[0:n] as a new bytes object; NULL with ValueError set if it is not. */
static PyObject *
decode_b64(const unsigned char *s, Py_ssize_t n)
{
    if (n % 4 != 0) {
        PyErr_SetString(PyExc_ValueError, "base64 length is not a multiple of 4");
        return NULL;
    }
    Py_ssize_t pad = 0;
    if (n >= 4 && s[n - 1] == '=') {
        pad = (s[n - 2] == '=') ? 2 : 1;
    }
    Py_ssize_t groups = n / 4 - (pad ? 1 : 0);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n / 4 * 3 - pad);
    if (out == NULL) {
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t i;
    for (i = 0; i < groups; i++) {
        const unsigned char *q = s + 4 * i;
        int a = TABLE[q[0]], b = TABLE[q[1]], c = TABLE[q[2]], d = TABLE[q[3]];
        if ((a | b | c | d) < 0) {
            goto invalid;
        }
        unsigned long w = ((unsigned long)a << 18) | ((unsigned long)b << 12)
                          | ((unsigned long)c << 6) | (unsigned long)d;
        *o++ = (unsigned char)(w >> 16);
        *o++ = (unsigned char)(w >> 8);
        *o++ = (unsigned char)w;
    }
    if (pad) {
        const unsigned char *q = s + 4 * groups;
        int a = TABLE[q[0]], b = TABLE[q[1]], c = pad == 1 ? TABLE[q[2]] : 0;
        if ((a | b | c) < 0) {
            goto invalid;
        }
        unsigned long w = ((unsigned long)a << 18) | ((unsigned long)b << 12)
                          | ((unsigned long)c << 6);
        *o++ = (unsigned char)(w >> 16);
        if (pad == 1) {
            *o++ = (unsigned char)(w >> 8);
        }
    }
    return out;

invalid:
    Py_DECREF(out);
    PyErr_SetString(PyExc_ValueError, "not strict base64");
    return NULL;
}

static PyObject *
b64decode(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *out = decode_b64((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return out;
}

/* Whether s[0:n] is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
is_json_number(const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    if (i >= n) {
        return 0;
    }
    if (s[i] == '0') {
        i++;
    }
    else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        Py_ssize_t digits = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == digits) {
            return 0;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        Py_ssize_t digits = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == digits) {
            return 0;
        }
    }
    return i == n;
}

#define LINE_HEAD "{\"t\":"
#define LINE_HEAD_LEN 5
#define MAX_NUMBER 63

/* recv_frame(line, tail) -> (ts, frame) | None, where line is
 * {"t":<JSON number><tail><strict base64>"} and tail names the connection and the rest
 * of the fixed layout (reader.py builds it). */
static PyObject *
recv_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "recv_frame(line: bytes, tail: bytes)");
        return NULL;
    }
    const char *line = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    const char *tail = PyBytes_AS_STRING(args[1]);
    Py_ssize_t tail_len = PyBytes_GET_SIZE(args[1]);
    if (tail_len == 0 || n < LINE_HEAD_LEN + 1 + tail_len + 2
        || memcmp(line, LINE_HEAD, LINE_HEAD_LEN) != 0 || line[n - 2] != '"'
        || line[n - 1] != '}') {
        Py_RETURN_NONE;
    }
    /* The number ends at the first comma: the tail starts there, or this is not the layout. */
    Py_ssize_t end = LINE_HEAD_LEN;
    Py_ssize_t limit = n - 2 - tail_len;
    while (end < limit && line[end] != ',') {
        end++;
    }
    Py_ssize_t digits = end - LINE_HEAD_LEN;
    if (digits == 0 || digits > MAX_NUMBER
        || memcmp(line + end, tail, (size_t)tail_len) != 0
        || !is_json_number(line + LINE_HEAD_LEN, digits)) {
        Py_RETURN_NONE;
    }
    char number[MAX_NUMBER + 1];
    memcpy(number, line + LINE_HEAD_LEN, (size_t)digits);
    number[digits] = '\0';
    double ts = PyOS_string_to_double(number, NULL, NULL);
    if (ts == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t start = end + tail_len;
    PyObject *frame = decode_b64((const unsigned char *)line + start, n - 2 - start);
    if (frame == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *stamp = PyFloat_FromDouble(ts);
    if (stamp == NULL) {
        Py_DECREF(frame);
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(stamp);
        Py_DECREF(frame);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, stamp);
    PyTuple_SET_ITEM(pair, 1, frame);
    return pair;
}

static PyMethodDef methods[] = {
    {"b64decode", b64decode, METH_O, "Strict base64 to bytes; ValueError otherwise."},
    {"recv_frame", (PyCFunction)(void (*)(void))recv_frame, METH_FASTCALL,
     "A received binary frame's line as (ts, frame), or None if not in the writer's layout."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lines_c", "Fast paths for reading capture lines.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__lines_c(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(TABLE, -1, sizeof TABLE);
    for (int i = 0; i < 64; i++) {
        TABLE[(unsigned char)alphabet[i]] = (signed char)i;
    }
    return PyModule_Create(&module);
}
