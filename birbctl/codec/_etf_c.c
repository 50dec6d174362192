/*
 * C accelerator for birbctl's ETF decoder (birbctl.codec._etf_c).
 *
 * Must behave exactly like birbctl/codec/_etf_py.py: same values, same DecodeError
 * messages and offsets; the tests compare the two on hostile input. The input is
 * untrusted, so: every read is bounds-checked, every length is checked against the
 * bytes left before anything is allocated, nesting uses an explicit heap stack (no C
 * recursion at all) capped by max_depth, and item counts are capped by max_items.
 * COMPRESSED (tag 80) is handed back to _etf_py.decode_compressed, which inflates with
 * a bound and then calls decode_term here for the inner term.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum {
    TAG_NEW_FLOAT = 70,
    TAG_COMPRESSED = 80,
    TAG_SMALL_INTEGER = 97,
    TAG_INTEGER = 98,
    TAG_FLOAT = 99,
    TAG_ATOM = 100,
    TAG_SMALL_TUPLE = 104,
    TAG_LARGE_TUPLE = 105,
    TAG_NIL = 106,
    TAG_STRING = 107,
    TAG_LIST = 108,
    TAG_BINARY = 109,
    TAG_SMALL_BIG = 110,
    TAG_LARGE_BIG = 111,
    TAG_SMALL_ATOM = 115,
    TAG_MAP = 116,
    TAG_ATOM_UTF8 = 118,
    TAG_SMALL_ATOM_UTF8 = 119,
    TAG_VERSION = 131,
};

#define LARGE_BIG_MAX 1024
/* Limits are clamped to this so that `items + n` can never overflow a long long. */
#define LIMIT_MAX (1LL << 62)

/* Same table as _etf_py.TAG_NAMES. */
static const char *const TAG_NAMES[256] = {
    [70] = "NEW_FLOAT_EXT",
    [77] = "BIT_BINARY_EXT",
    [80] = "COMPRESSED",
    [82] = "ATOM_CACHE_REF",
    [88] = "NEW_PID_EXT",
    [89] = "NEW_PORT_EXT",
    [90] = "NEWER_REFERENCE_EXT",
    [97] = "SMALL_INTEGER_EXT",
    [98] = "INTEGER_EXT",
    [99] = "FLOAT_EXT",
    [100] = "ATOM_EXT",
    [101] = "REFERENCE_EXT",
    [102] = "PORT_EXT",
    [103] = "PID_EXT",
    [104] = "SMALL_TUPLE_EXT",
    [105] = "LARGE_TUPLE_EXT",
    [106] = "NIL_EXT",
    [107] = "STRING_EXT",
    [108] = "LIST_EXT",
    [109] = "BINARY_EXT",
    [110] = "SMALL_BIG_EXT",
    [111] = "LARGE_BIG_EXT",
    [112] = "NEW_FUN_EXT",
    [113] = "EXPORT_EXT",
    [114] = "NEW_REFERENCE_EXT",
    [115] = "SMALL_ATOM_EXT",
    [116] = "MAP_EXT",
    [117] = "FUN_EXT",
    [118] = "ATOM_UTF8_EXT",
    [119] = "SMALL_ATOM_UTF8_EXT",
    [120] = "V4_PORT_EXT",
    [121] = "LOCAL_EXT",
};

static PyObject *DecodeError = NULL; /* birbctl.errors.DecodeError */

/* ---- errors ------------------------------------------------------------------------ */

static PyObject *
fail(Py_ssize_t offset, const char *fmt, ...)
{
    char msg[320];
    va_list va;
    PyObject *text, *args = NULL, *kwargs = NULL, *off = NULL, *exc;

    va_start(va, fmt);
    vsnprintf(msg, sizeof msg, fmt, va);
    va_end(va);
    text = PyUnicode_FromString(msg);
    if (text == NULL)
        return NULL;
    args = PyTuple_Pack(1, text);
    off = PyLong_FromSsize_t(offset);
    kwargs = PyDict_New();
    if (args != NULL && off != NULL && kwargs != NULL &&
        PyDict_SetItemString(kwargs, "offset", off) == 0) {
        exc = PyObject_Call(DecodeError, args, kwargs);
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    }
    Py_DECREF(text);
    Py_XDECREF(args);
    Py_XDECREF(off);
    Py_XDECREF(kwargs);
    return NULL;
}

static PyObject *
fail_truncated(unsigned char tag, unsigned long long need, Py_ssize_t left, Py_ssize_t offset)
{
    return fail(offset, "truncated %s: needs %llu bytes, %lld left", TAG_NAMES[tag], need,
                (long long)left);
}

static PyObject *
fail_end_of_input(Py_ssize_t offset)
{
    return fail(offset, "truncated: input ends where a term should start");
}

static PyObject *
fail_bad_tag(unsigned char tag, Py_ssize_t offset)
{
    if (tag == TAG_COMPRESSED)
        return fail(offset, "COMPRESSED term below the top level");
    if (TAG_NAMES[tag] == NULL)
        return fail(offset, "unknown ETF tag %d", (int)tag);
    return fail(offset, "unsupported ETF tag %d (%s)", (int)tag, TAG_NAMES[tag]);
}

/* Turn the pending UnicodeDecodeError into a DecodeError at the first bad byte. */
static PyObject *
fail_utf8(unsigned char tag, Py_ssize_t data_offset)
{
    Py_ssize_t start = 0;
    PyObject *exc;

    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        return NULL; /* MemoryError and the like pass through */
#if PY_VERSION_HEX >= 0x030C0000
    exc = PyErr_GetRaisedException();
#else
    {
        PyObject *type, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
    }
#endif
    if (exc == NULL || PyUnicodeDecodeError_GetStart(exc, &start) < 0) {
        PyErr_Clear();
        start = 0;
    }
    Py_XDECREF(exc);
    return fail(data_offset + start, "invalid UTF-8 in %s", TAG_NAMES[tag]);
}

/* ---- helpers ----------------------------------------------------------------------- */

static inline uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint16_t
be16(const unsigned char *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | (unsigned)p[1]);
}

/*
 * Atom cache: Discord repeats a few hundred atoms (mostly map keys) in every payload;
 * decoding each once and handing out the same interned str makes dict building much
 * cheaper. Direct-mapped, keyed by the atom's bytes and whether it is UTF-8. Only ever
 * touched with the GIL held.
 */
#define ACACHE_SIZE 1024
#define ACACHE_MAXLEN 40

typedef struct {
    PyObject *str;
    unsigned char len;
    unsigned char utf8;
    unsigned char bytes[ACACHE_MAXLEN];
} AtomEntry;

static AtomEntry acache[ACACHE_SIZE];

static PyObject *
atom_decode(const unsigned char *s, Py_ssize_t n, int utf8, unsigned char tag, Py_ssize_t q)
{
    PyObject *str;
    if (utf8) {
        str = PyUnicode_DecodeUTF8((const char *)s, n, NULL);
        if (str == NULL)
            return fail_utf8(tag, q);
        return str;
    }
    return PyUnicode_DecodeLatin1((const char *)s, n, NULL);
}

static PyObject *
atom_str(const unsigned char *s, Py_ssize_t n, int utf8, unsigned char tag, Py_ssize_t q)
{
    uint32_t h = 2166136261u ^ (uint32_t)utf8;
    Py_ssize_t i;
    AtomEntry *e;
    PyObject *str, *old;

    if (n > ACACHE_MAXLEN)
        return atom_decode(s, n, utf8, tag, q);
    for (i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    h ^= (uint32_t)n;
    e = &acache[h & (ACACHE_SIZE - 1)];
    if (e->str != NULL && e->len == n && e->utf8 == utf8 && memcmp(e->bytes, s, (size_t)n) == 0) {
        Py_INCREF(e->str);
        return e->str;
    }
    str = atom_decode(s, n, utf8, tag, q);
    if (str == NULL)
        return NULL;
    PyUnicode_InternInPlace(&str);
    old = e->str;
    Py_INCREF(str);
    e->str = str;
    e->len = (unsigned char)n;
    e->utf8 = (unsigned char)utf8;
    memcpy(e->bytes, s, (size_t)n);
    Py_XDECREF(old);
    return str;
}

/* ---- scalar readers: each takes the tag's offset in *ppos and advances it ------------ */

typedef struct {
    const unsigned char *buf;
    Py_ssize_t len;
    int bigint_as_str;
} Dec;

static PyObject *
read_atom(const Dec *d, Py_ssize_t *ppos, unsigned char tag, int is_key)
{
    const unsigned char *buf = d->buf;
    Py_ssize_t p = *ppos, len = d->len, q, n;
    int wide = (tag == TAG_ATOM || tag == TAG_ATOM_UTF8);
    int utf8 = (tag == TAG_ATOM_UTF8 || tag == TAG_SMALL_ATOM_UTF8);

    if (wide) {
        if (len - p - 1 < 2)
            return fail_truncated(tag, 2, len - p - 1, p);
        n = be16(buf + p + 1);
        q = p + 3;
    }
    else {
        if (len - p - 1 < 1)
            return fail_truncated(tag, 1, len - p - 1, p);
        n = buf[p + 1];
        q = p + 2;
    }
    if (len - q < n)
        return fail_truncated(tag, (unsigned long long)n, len - q, p);
    *ppos = q + n;
    if (!is_key) {
        const unsigned char *s = buf + q;
        if (n == 4 && memcmp(s, "true", 4) == 0)
            Py_RETURN_TRUE;
        if (n == 5 && memcmp(s, "false", 5) == 0)
            Py_RETURN_FALSE;
        if (n == 3 && memcmp(s, "nil", 3) == 0)
            Py_RETURN_NONE;
    }
    return atom_str(buf + q, n, utf8, tag, q);
}

static PyObject *
read_binary(const Dec *d, Py_ssize_t *ppos)
{
    Py_ssize_t p = *ppos, len = d->len, q;
    uint32_t n;
    PyObject *s;

    if (len - p - 1 < 4)
        return fail_truncated(TAG_BINARY, 4, len - p - 1, p);
    n = be32(d->buf + p + 1);
    q = p + 5;
    if ((unsigned long long)(len - q) < (unsigned long long)n)
        return fail_truncated(TAG_BINARY, n, len - q, p);
    s = PyUnicode_DecodeUTF8((const char *)d->buf + q, (Py_ssize_t)n, NULL);
    if (s == NULL)
        return fail_utf8(TAG_BINARY, q);
    *ppos = q + (Py_ssize_t)n;
    return s;
}

static PyObject *
read_small_integer(const Dec *d, Py_ssize_t *ppos)
{
    Py_ssize_t p = *ppos;
    if (d->len - p - 1 < 1)
        return fail_truncated(TAG_SMALL_INTEGER, 1, d->len - p - 1, p);
    *ppos = p + 2;
    return PyLong_FromLong((long)d->buf[p + 1]);
}

static PyObject *
read_integer(const Dec *d, Py_ssize_t *ppos)
{
    Py_ssize_t p = *ppos;
    if (d->len - p - 1 < 4)
        return fail_truncated(TAG_INTEGER, 4, d->len - p - 1, p);
    *ppos = p + 5;
    return PyLong_FromLong((long)(int32_t)be32(d->buf + p + 1));
}

static PyObject *
read_big(const Dec *d, Py_ssize_t *ppos, unsigned char tag)
{
    const unsigned char *buf = d->buf, *digits;
    Py_ssize_t p = *ppos, len = d->len, q;
    uint32_t n;
    int sign;
    PyObject *value, *tmp;

    if (tag == TAG_SMALL_BIG) {
        if (len - p - 1 < 2)
            return fail_truncated(tag, 2, len - p - 1, p);
        n = buf[p + 1];
        q = p + 3;
    }
    else {
        if (len - p - 1 < 5)
            return fail_truncated(tag, 5, len - p - 1, p);
        n = be32(buf + p + 1);
        q = p + 6;
        if (n > LARGE_BIG_MAX)
            return fail(p, "LARGE_BIG_EXT of %lu bytes exceeds the limit of %d", (unsigned long)n,
                        LARGE_BIG_MAX);
    }
    sign = buf[q - 1];
    if (sign > 1)
        return fail(p, "invalid sign byte %d in %s", sign, TAG_NAMES[tag]);
    if ((unsigned long long)(len - q) < (unsigned long long)n)
        return fail_truncated(tag, n, len - q, p);
    digits = buf + q;
    *ppos = q + (Py_ssize_t)n;

    if (n <= 8) {
        uint64_t v = 0;
        uint32_t i;
        for (i = n; i > 0; i--)
            v = (v << 8) | digits[i - 1];
        if (d->bigint_as_str) {
            char text[24];
            snprintf(text, sizeof text, "%s%llu", (sign && v) ? "-" : "", (unsigned long long)v);
            return PyUnicode_FromString(text);
        }
        if (!sign)
            return PyLong_FromUnsignedLongLong(v);
        if (v <= (uint64_t)LLONG_MAX)
            return PyLong_FromLongLong(-(long long)v);
        tmp = PyLong_FromUnsignedLongLong(v);
        if (tmp == NULL)
            return NULL;
        value = PyNumber_Negative(tmp);
        Py_DECREF(tmp);
        return value;
    }

    tmp = PyBytes_FromStringAndSize((const char *)digits, (Py_ssize_t)n);
    if (tmp == NULL)
        return NULL;
    value = PyObject_CallMethod((PyObject *)&PyLong_Type, "from_bytes", "Os", tmp, "little");
    Py_DECREF(tmp);
    if (value == NULL)
        return NULL;
    if (sign) {
        tmp = value;
        value = PyNumber_Negative(tmp);
        Py_DECREF(tmp);
        if (value == NULL)
            return NULL;
    }
    if (d->bigint_as_str) {
        tmp = value;
        value = PyObject_Str(tmp);
        Py_DECREF(tmp);
        if (value == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear(); /* sys.set_int_max_str_digits() set very low */
            return fail(p, "integer too large to convert to str");
        }
    }
    return value;
}

static PyObject *
read_float(const Dec *d, Py_ssize_t *ppos, unsigned char tag)
{
    const unsigned char *buf = d->buf;
    Py_ssize_t p = *ppos, len = d->len;

    if (tag == TAG_NEW_FLOAT) {
        double v;
        if (len - p - 1 < 8)
            return fail_truncated(tag, 8, len - p - 1, p);
        v = PyFloat_Unpack8((const char *)buf + p + 1, 0);
        if (v == -1.0 && PyErr_Occurred())
            return NULL;
        *ppos = p + 9;
        return PyFloat_FromDouble(v);
    }
    else {
        /* 31 bytes of "%.20e" padded with NULs; PyFloat_FromString is what float() uses. */
        const unsigned char *s = buf + p + 1, *nul;
        Py_ssize_t n;
        PyObject *text, *value;
        if (len - p - 1 < 31)
            return fail_truncated(tag, 31, len - p - 1, p);
        nul = memchr(s, 0, 31);
        n = nul ? (Py_ssize_t)(nul - s) : 31;
        text = PyBytes_FromStringAndSize((const char *)s, n);
        if (text == NULL)
            return NULL;
        value = PyFloat_FromString(text);
        Py_DECREF(text);
        if (value == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_ValueError))
                return NULL;
            PyErr_Clear();
            return fail(p, "invalid FLOAT_EXT");
        }
        *ppos = p + 32;
        return value;
    }
}

static PyObject *
read_key(const Dec *d, Py_ssize_t *ppos)
{
    Py_ssize_t p = *ppos;
    unsigned char tag;

    if (p >= d->len)
        return fail_end_of_input(d->len);
    tag = d->buf[p];
    switch (tag) {
    case TAG_ATOM:
    case TAG_SMALL_ATOM:
    case TAG_ATOM_UTF8:
    case TAG_SMALL_ATOM_UTF8:
        return read_atom(d, ppos, tag, 1);
    case TAG_BINARY:
        return read_binary(d, ppos);
    case TAG_SMALL_INTEGER:
        return read_small_integer(d, ppos);
    case TAG_INTEGER:
        return read_integer(d, ppos);
    case TAG_SMALL_BIG:
    case TAG_LARGE_BIG:
        return read_big(d, ppos, tag);
    default:
        if (TAG_NAMES[tag] == NULL)
            return fail(p, "unknown ETF tag %d", (int)tag);
        return fail(p, "unsupported map key type %s", TAG_NAMES[tag]);
    }
}

/* ---- the decoder ------------------------------------------------------------------- */

enum { K_MAP = 1, K_LIST = 2, K_TUPLE = 3 };

typedef struct {
    PyObject *obj; /* dict or list being filled */
    PyObject *key; /* K_MAP: the key waiting for its value */
    Py_ssize_t n;  /* elements (entries) it holds when full */
    Py_ssize_t i;  /* elements (entries) filled so far */
    int kind;
} Frame;

#define LOCAL_FRAMES 64

static PyObject *
decode_term_impl(const unsigned char *buf, Py_ssize_t len, Py_ssize_t pos, int bigint_as_str,
                 long long max_depth, long long max_items)
{
    Dec d;
    Frame local[LOCAL_FRAMES];
    Frame *stack = local;
    Py_ssize_t cap = LOCAL_FRAMES, depth = 0;
    long long items = 0;
    PyObject *value = NULL;

    d.buf = buf;
    d.len = len;
    d.bigint_as_str = bigint_as_str;

    for (;;) {
        unsigned char tag;

        if (depth > 0 && stack[depth - 1].kind == K_MAP) {
            PyObject *key = read_key(&d, &pos);
            if (key == NULL)
                goto error;
            stack[depth - 1].key = key;
        }
        if (pos >= len) {
            fail_end_of_input(len);
            goto error;
        }
        tag = buf[pos];
        switch (tag) {
        case TAG_BINARY:
            value = read_binary(&d, &pos);
            break;
        case TAG_ATOM:
        case TAG_SMALL_ATOM:
        case TAG_ATOM_UTF8:
        case TAG_SMALL_ATOM_UTF8:
            value = read_atom(&d, &pos, tag, 0);
            break;
        case TAG_SMALL_INTEGER:
            value = read_small_integer(&d, &pos);
            break;
        case TAG_INTEGER:
            value = read_integer(&d, &pos);
            break;
        case TAG_SMALL_BIG:
        case TAG_LARGE_BIG:
            value = read_big(&d, &pos, tag);
            break;
        case TAG_NEW_FLOAT:
        case TAG_FLOAT:
            value = read_float(&d, &pos, tag);
            break;
        case TAG_NIL:
            value = PyList_New(0);
            pos += 1;
            break;
        case TAG_STRING: {
            Py_ssize_t p = pos, q, n, i;
            if (len - p - 1 < 2) {
                fail_truncated(tag, 2, len - p - 1, p);
                goto error;
            }
            n = be16(buf + p + 1);
            q = p + 3;
            if (len - q < n) {
                fail_truncated(tag, (unsigned long long)n, len - q, p);
                goto error;
            }
            items += n;
            if (items > max_items) {
                fail(p, "more than %lld items", max_items);
                goto error;
            }
            value = PyList_New(n);
            if (value == NULL)
                goto error;
            for (i = 0; i < n; i++) {
                PyObject *v = PyLong_FromLong((long)buf[q + i]);
                if (v == NULL)
                    goto error;
                PyList_SET_ITEM(value, i, v);
            }
            pos = q + n;
            break;
        }
        case TAG_MAP:
        case TAG_LIST:
        case TAG_SMALL_TUPLE:
        case TAG_LARGE_TUPLE: {
            Py_ssize_t p = pos, hdr = (tag == TAG_SMALL_TUPLE) ? 1 : 4, left;
            unsigned long long n, need;
            PyObject *obj;

            if (len - p - 1 < hdr) {
                fail_truncated(tag, (unsigned long long)hdr, len - p - 1, p);
                goto error;
            }
            n = (hdr == 1) ? buf[p + 1] : be32(buf + p + 1);
            left = len - p - 1 - hdr;
            need = (tag == TAG_MAP) ? 2 * n : (tag == TAG_LIST) ? n + 1 : n;
            if (need > (unsigned long long)left) {
                fail(p, "truncated %s: %llu %s need at least %llu bytes, %lld left", TAG_NAMES[tag], n,
                     tag == TAG_MAP ? "entries" : "elements", need, (long long)left);
                goto error;
            }
            if ((long long)depth >= max_depth) {
                fail(p, "nesting deeper than %lld", max_depth);
                goto error;
            }
            items += (long long)n;
            if (items > max_items) {
                fail(p, "more than %lld items", max_items);
                goto error;
            }
            pos = p + 1 + hdr;
            if (n == 0) {
                if (tag == TAG_MAP) {
                    value = PyDict_New();
                }
                else {
                    if (tag == TAG_LIST) {
                        if (buf[pos] != TAG_NIL) {
                            fail(pos, "improper list: tail is not NIL_EXT");
                            goto error;
                        }
                        pos += 1;
                    }
                    value = PyList_New(0);
                }
                break;
            }
            obj = (tag == TAG_MAP) ? PyDict_New() : PyList_New((Py_ssize_t)n);
            if (obj == NULL)
                goto error;
            if (depth == cap) {
                Py_ssize_t newcap = cap * 2;
                Frame *grown;
                if (stack == local) {
                    grown = (Frame *)PyMem_Malloc((size_t)newcap * sizeof(Frame));
                    if (grown != NULL)
                        memcpy(grown, local, sizeof local);
                }
                else {
                    grown = (Frame *)PyMem_Realloc(stack, (size_t)newcap * sizeof(Frame));
                }
                if (grown == NULL) {
                    Py_DECREF(obj);
                    PyErr_NoMemory();
                    goto error;
                }
                stack = grown;
                cap = newcap;
            }
            stack[depth].obj = obj;
            stack[depth].key = NULL;
            stack[depth].n = (Py_ssize_t)n;
            stack[depth].i = 0;
            stack[depth].kind = (tag == TAG_MAP) ? K_MAP : (tag == TAG_LIST) ? K_LIST : K_TUPLE;
            depth++;
            continue;
        }
        default:
            fail_bad_tag(tag, pos);
            goto error;
        }
        if (value == NULL)
            goto error;

        /* Hand the finished value to its container; a container that is now full is
         * itself a finished value for the one below it. */
        for (;;) {
            Frame *f;
            if (depth == 0) {
                if (pos != len) {
                    Py_CLEAR(value);
                    fail(pos, "trailing bytes after term");
                    goto error;
                }
                if (stack != local)
                    PyMem_Free(stack);
                return value;
            }
            f = &stack[depth - 1];
            if (f->kind == K_MAP) {
                int r = PyDict_SetItem(f->obj, f->key, value);
                Py_CLEAR(f->key);
                Py_CLEAR(value);
                if (r < 0)
                    goto error;
            }
            else {
                PyList_SET_ITEM(f->obj, f->i, value); /* steals the reference */
                value = NULL;
            }
            if (++f->i < f->n)
                break;
            if (f->kind == K_LIST) {
                if (pos >= len) {
                    fail_end_of_input(len);
                    goto error;
                }
                if (buf[pos] != TAG_NIL) {
                    fail(pos, "improper list: tail is not NIL_EXT");
                    goto error;
                }
                pos += 1;
            }
            value = f->obj;
            f->obj = NULL;
            depth--;
        }
    }

error:
    Py_XDECREF(value);
    while (depth > 0) {
        depth--;
        Py_XDECREF(stack[depth].obj); /* lists tolerate their unfilled NULL slots */
        Py_XDECREF(stack[depth].key);
    }
    if (stack != local)
        PyMem_Free(stack);
    return NULL;
}

/* ---- module functions -------------------------------------------------------------- */

/* A Python int argument as a limit; huge values clamp, they cannot be reached anyway. */
static int
as_limit(PyObject *obj, long long *out)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow > 0 || v > LIMIT_MAX)
        v = LIMIT_MAX;
    else if (overflow < 0 || v < -LIMIT_MAX)
        v = -LIMIT_MAX;
    *out = v;
    return 0;
}

/* Borrow the bytes of any contiguous buffer; copy non-contiguous ones into *holder. */
static int
get_bytes(PyObject *data, Py_buffer *view, PyObject **holder)
{
    *holder = NULL;
    if (!PyObject_CheckBuffer(data)) {
        PyErr_Format(PyExc_TypeError, "a bytes-like object is required, not '%.100s'",
                     Py_TYPE(data)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(data, view, PyBUF_SIMPLE) == 0)
        return 0;
    PyErr_Clear();
    *holder = PyBytes_FromObject(data);
    if (*holder == NULL)
        return -1;
    return PyObject_GetBuffer(*holder, view, PyBUF_SIMPLE);
}

static void
release_bytes(Py_buffer *view, PyObject *holder)
{
    PyBuffer_Release(view);
    Py_XDECREF(holder);
}

PyDoc_STRVAR(decode_doc,
             "decode(data, bigint_as_str, max_depth, max_items, max_size)\n--\n\n"
             "Decode a whole ETF message (version byte first); see birbctl.codec.etf.decode_etf.");

static PyObject *
etf_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    PyObject *holder, *result;
    const unsigned char *buf;
    long long max_depth, max_items;
    int bigint_as_str;

    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "decode() takes 5 positional arguments (%zd given)", nargs);
        return NULL;
    }
    bigint_as_str = PyObject_IsTrue(args[1]);
    if (bigint_as_str < 0 || as_limit(args[2], &max_depth) < 0 || as_limit(args[3], &max_items) < 0)
        return NULL;
    if (get_bytes(args[0], &view, &holder) < 0) {
        Py_XDECREF(holder);
        return NULL;
    }
    buf = (const unsigned char *)view.buf;
    if (view.len == 0) {
        release_bytes(&view, holder);
        return fail(0, "not ETF: empty input");
    }
    if (buf[0] != TAG_VERSION) {
        int first = buf[0];
        release_bytes(&view, holder);
        return fail(0, "not ETF: first byte is 0x%02x, expected 131", first);
    }
    if (view.len > 1 && buf[1] == TAG_COMPRESSED) {
        /* Rare: inflate in Python (bounded), which calls decode_term below for the rest. */
        PyObject *py, *term_decoder;
        release_bytes(&view, holder);
        py = PyImport_ImportModule("birbctl.codec._etf_py");
        if (py == NULL)
            return NULL;
        term_decoder = PyObject_GetAttrString(module, "decode_term");
        if (term_decoder == NULL) {
            Py_DECREF(py);
            return NULL;
        }
        result = PyObject_CallMethod(py, "decode_compressed", "OOOOOO", args[0], args[1], args[2],
                                     args[3], args[4], term_decoder);
        Py_DECREF(term_decoder);
        Py_DECREF(py);
        return result;
    }
    result = decode_term_impl(buf, view.len, 1, bigint_as_str, max_depth, max_items);
    release_bytes(&view, holder);
    return result;
}

PyDoc_STRVAR(decode_term_doc,
             "decode_term(buf, pos, bigint_as_str, max_depth, max_items)\n--\n\n"
             "Decode the one term that fills buf[pos:] exactly (no version byte).");

static PyObject *
etf_decode_term(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    PyObject *holder, *result;
    Py_ssize_t pos;
    long long max_depth, max_items;
    int bigint_as_str;

    (void)module;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "decode_term() takes 5 positional arguments (%zd given)",
                     nargs);
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    bigint_as_str = PyObject_IsTrue(args[2]);
    if (bigint_as_str < 0 || as_limit(args[3], &max_depth) < 0 || as_limit(args[4], &max_items) < 0)
        return NULL;
    if (get_bytes(args[0], &view, &holder) < 0) {
        Py_XDECREF(holder);
        return NULL;
    }
    if (pos < 0 || pos > view.len) {
        release_bytes(&view, holder);
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    result = decode_term_impl((const unsigned char *)view.buf, view.len, pos, bigint_as_str,
                              max_depth, max_items);
    release_bytes(&view, holder);
    return result;
}

static PyMethodDef etf_methods[] = {
    {"decode", (PyCFunction)(void (*)(void))etf_decode, METH_FASTCALL, decode_doc},
    {"decode_term", (PyCFunction)(void (*)(void))etf_decode_term, METH_FASTCALL, decode_term_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef etf_module = {
    PyModuleDef_HEAD_INIT,
    "birbctl.codec._etf_c",
    "C accelerator for birbctl.codec.etf (decoding only).",
    -1,
    etf_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__etf_c(void)
{
    PyObject *errors, *module;

    if (DecodeError == NULL) {
        errors = PyImport_ImportModule("birbctl.errors");
        if (errors == NULL)
            return NULL;
        DecodeError = PyObject_GetAttrString(errors, "DecodeError");
        Py_DECREF(errors);
        if (DecodeError == NULL)
            return NULL;
    }
    module = PyModule_Create(&etf_module);
    return module;
}
