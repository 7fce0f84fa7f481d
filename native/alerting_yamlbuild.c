/* alerting_yamlbuild: the common case of components/stackfile.py's builder, in C.
 *
 * build(text, resolved, resolve, unusual, max_nodes, max_depth, max_scalar_bytes, with_marks)
 *     -> (data, root_mark, marks or None) | None
 *
 * It reads libyaml's events and builds what stackfile._Builder builds for a file that has nothing
 * to report: plain data and, when `with_marks`, for every mapping and list its marks
 * (`marks[id(container)]`: for a mapping key -> ((key line, column), (value line, column)), for a
 * list one (line, column) per item; 1-based). A file with nothing to report needs no marks until
 * a later stage asks where a value stands; the caller then builds it again with them.
 *
 * It never reports a problem: on anything the Python builder would have an opinion about (a
 * syntax error, a tag, an anchor or alias, a duplicate or complex key, a second document, a scalar
 * root, an empty file, a limit crossed, a plain scalar `resolve` marks as `unusual`) it returns
 * None and the Python builder reads the file instead, with every rule and message. So this file
 * holds no rule of its own beyond "is this the common case?".
 *
 * Plain (untagged, unquoted) scalars are resolved through `resolved` (the Python builder's cache
 * of text -> value) and, on a miss, `resolve(text)`, the Python builder's own resolution.
 *
 * libyaml is not linked: its functions are looked up in PyYAML's own extension module
 * (yaml._yaml, which carries libyaml), so this parses with exactly the libyaml version the Python
 * builder's CSafeLoader uses -- same acceptance, same marks. yaml.h is needed to compile only;
 * an import-time self-test refuses to load if that header's event layout does not match.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <string.h>
#include <yaml.h>

static int (*p_parser_initialize)(yaml_parser_t *);
static void (*p_parser_delete)(yaml_parser_t *);
static void (*p_parser_set_input_string)(yaml_parser_t *, const unsigned char *, size_t);
static int (*p_parser_parse)(yaml_parser_t *, yaml_event_t *);
static void (*p_event_delete)(yaml_event_t *);

/* The parser struct is only ever touched by libyaml itself; room to spare in case the carried
 * libyaml's struct is larger than this header's. */
#define PARSER_BYTES (sizeof(yaml_parser_t) + 4096)

typedef struct {
    PyObject *container; /* borrowed: owned by its parent (or by the result for the root) */
    PyObject *marks;     /* borrowed: owned by the marks dict */
    int is_map;
    PyObject *key;       /* owned; NULL: waiting for a key */
    PyObject *key_mark;  /* owned */
} Frame;

typedef struct {
    PyObject *resolved, *resolve, *unusual;
    Py_ssize_t max_nodes, max_scalar_bytes;
    int max_depth, with_marks;
    Frame *frames;
    int depth;
    Py_ssize_t nodes;
    PyObject *root, *root_mark, *marks_by_id;
} Builder;

/* 1: built; 0: not the common case (fall back); -1: a Python error is set. */
enum { FALLBACK = 0, BUILT = 1, FAILED = -1 };

static PyObject *mark_of(const yaml_mark_t *mark) {
    return Py_BuildValue("(nn)", (Py_ssize_t)mark->line + 1, (Py_ssize_t)mark->column + 1);
}

static void clear_key(Frame *frame) {
    Py_CLEAR(frame->key);
    Py_CLEAR(frame->key_mark);
}

/* Put `value` (a new reference, consumed) under the frame's pending key or at the list's end;
 * `mark` (borrowed) NULL when marks are not wanted. */
static int place(Frame *frame, PyObject *value, PyObject *mark) {
    int failed = 0;
    if (frame->is_map) {
        if (mark != NULL) {
            PyObject *pair = PyTuple_Pack(2, frame->key_mark, mark);
            failed = pair == NULL || PyDict_SetItem(frame->marks, frame->key, pair) < 0;
            Py_XDECREF(pair);
        }
        failed = failed || PyDict_SetItem(frame->container, frame->key, value) < 0;
        clear_key(frame);
    } else {
        failed = (mark != NULL && PyList_Append(frame->marks, mark) < 0) ||
                 PyList_Append(frame->container, value) < 0;
    }
    Py_DECREF(value);
    return failed ? FAILED : BUILT;
}

static int scalar(Builder *b, const yaml_event_t *event) {
    if (event->data.scalar.anchor || event->data.scalar.tag || b->depth == 0) return FALLBACK;
    if ((Py_ssize_t)event->data.scalar.length > b->max_scalar_bytes) return FALLBACK;
    if (++b->nodes > b->max_nodes) return FALLBACK;
    PyObject *text = PyUnicode_DecodeUTF8((const char *)event->data.scalar.value,
                                          (Py_ssize_t)event->data.scalar.length, "strict");
    if (text == NULL) return FAILED;
    PyObject *value = text;
    if (event->data.scalar.plain_implicit) {
        value = PyDict_GetItemWithError(b->resolved, text);
        if (value != NULL) {
            Py_INCREF(value);
        } else if (PyErr_Occurred()) {
            Py_DECREF(text);
            return FAILED;
        } else {
            value = PyObject_CallOneArg(b->resolve, text);
            if (value == NULL) {
                Py_DECREF(text);
                return FAILED;
            }
        }
        Py_DECREF(text);
        if (value == b->unusual) {
            Py_DECREF(value);
            return FALLBACK;
        }
    }
    PyObject *mark = NULL;
    if (b->with_marks && (mark = mark_of(&event->start_mark)) == NULL) {
        Py_DECREF(value);
        return FAILED;
    }
    Frame *frame = &b->frames[b->depth - 1];
    int result;
    if (frame->is_map && frame->key == NULL) {
        PyObject *key = PyUnicode_CheckExact(value) ? (Py_INCREF(value), value) : PyObject_Str(value);
        Py_DECREF(value);
        if (key == NULL) {
            Py_XDECREF(mark);
            return FAILED;
        }
        int seen = PyDict_Contains(frame->container, key);
        if (seen != 0) { /* a duplicate key: the Python builder reports it */
            Py_DECREF(key);
            Py_XDECREF(mark);
            return seen < 0 ? FAILED : FALLBACK;
        }
        frame->key = key;
        frame->key_mark = mark;
        return BUILT;
    }
    result = place(frame, value, mark);
    Py_XDECREF(mark);
    return result;
}

static int collection_start(Builder *b, const yaml_event_t *event, int is_map) {
    const yaml_char_t *anchor = is_map ? event->data.mapping_start.anchor : event->data.sequence_start.anchor;
    const yaml_char_t *tag = is_map ? event->data.mapping_start.tag : event->data.sequence_start.tag;
    if (anchor || tag || b->depth >= b->max_depth) return FALLBACK;
    if (b->depth == 0 && b->root != NULL) return FALLBACK; /* cannot happen in one document */
    if (b->depth > 0 && b->frames[b->depth - 1].is_map && b->frames[b->depth - 1].key == NULL)
        return FALLBACK; /* a mapping or list as a key */
    if (++b->nodes > b->max_nodes) return FALLBACK;
    PyObject *child = is_map ? PyDict_New() : PyList_New(0);
    PyObject *marks = NULL, *id = NULL, *mark = NULL;
    int ready = child != NULL;
    if (ready && (b->with_marks || b->depth == 0)) ready = (mark = mark_of(&event->start_mark)) != NULL;
    if (ready && b->with_marks) {
        marks = is_map ? PyDict_New() : PyList_New(0);
        id = PyLong_FromVoidPtr(child);
        ready = marks && id && PyDict_SetItem(b->marks_by_id, id, marks) == 0;
    }
    int result = FAILED;
    if (ready) {
        Frame *frame = &b->frames[b->depth];
        frame->container = child;
        frame->marks = marks;
        frame->is_map = is_map;
        frame->key = frame->key_mark = NULL;
        if (b->depth == 0) {
            b->root = child;
            b->root_mark = mark;
            Py_INCREF(child);
            Py_INCREF(mark);
            result = BUILT;
        } else {
            Py_INCREF(child); /* place() consumes one reference; the frame borrows the other's */
            result = place(&b->frames[b->depth - 1], child, b->with_marks ? mark : NULL);
        }
        if (result == BUILT) b->depth++;
    }
    Py_XDECREF(child);
    Py_XDECREF(marks);
    Py_XDECREF(id);
    Py_XDECREF(mark);
    return result;
}

static int run(Builder *b, yaml_parser_t *parser) {
    int documents = 0;
    for (;;) {
        yaml_event_t event;
        if (!p_parser_parse(parser, &event)) return FALLBACK; /* a syntax error */
        int result = BUILT, done = 0;
        switch (event.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) result = FALLBACK;
            break;
        case YAML_SCALAR_EVENT:
            result = scalar(b, &event);
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            result = collection_start(b, &event, event.type == YAML_MAPPING_START_EVENT);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (b->depth == 0) {
                result = FALLBACK;
            } else {
                b->depth--;
                clear_key(&b->frames[b->depth]);
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default: /* aliases, and anything this file does not know */
            result = FALLBACK;
        }
        p_event_delete(&event);
        if (result != BUILT) return result;
        if (done) return b->root == NULL ? FALLBACK : BUILT; /* an empty file: the Python builder */
    }
}

static PyObject *build(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *text;
    Py_ssize_t length;
    Builder b;
    memset(&b, 0, sizeof b);
    if (!PyArg_ParseTuple(args, "y#OOOninp:build", &text, &length, &b.resolved, &b.resolve, &b.unusual,
                          &b.max_nodes, &b.max_depth, &b.max_scalar_bytes, &b.with_marks))
        return NULL;
    if (!PyDict_CheckExact(b.resolved) || b.max_depth < 1) {
        PyErr_SetString(PyExc_TypeError, "build: resolved must be a dict and max_depth positive");
        return NULL;
    }
    yaml_parser_t *parser = PyMem_Calloc(1, PARSER_BYTES);
    b.frames = PyMem_Calloc((size_t)b.max_depth, sizeof(Frame));
    b.marks_by_id = PyDict_New();
    PyObject *out = NULL;
    if (parser == NULL || b.frames == NULL || b.marks_by_id == NULL) {
        PyErr_NoMemory();
    } else if (!p_parser_initialize(parser)) {
        PyErr_NoMemory();
    } else {
        p_parser_set_input_string(parser, (const unsigned char *)text, (size_t)length);
        int result = run(&b, parser);
        p_parser_delete(parser);
        if (result == BUILT) {
            out = PyTuple_Pack(3, b.root, b.root_mark, b.with_marks ? b.marks_by_id : Py_None);
        } else if (result == FALLBACK) {
            out = Py_NewRef(Py_None);
        }
    }
    if (b.frames != NULL) { /* keys still pending where building stopped early */
        for (int i = 0; i < b.max_depth; i++) clear_key(&b.frames[i]);
    }
    PyMem_Free(b.frames);
    PyMem_Free(parser);
    Py_XDECREF(b.root);
    Py_XDECREF(b.root_mark);
    Py_XDECREF(b.marks_by_id);
    return out;
}

/* Find libyaml in PyYAML's extension module; 0 on success, -1 with ImportError set. */
static int bind_libyaml(void) {
    PyObject *carrier = PyImport_ImportModule("yaml._yaml");
    if (carrier == NULL) return -1;
    PyObject *file = PyObject_GetAttrString(carrier, "__file__");
    Py_DECREF(carrier);
    if (file == NULL) return -1;
    const char *path = PyUnicode_AsUTF8(file);
    void *handle = path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL;
    Py_DECREF(file);
    if (handle != NULL) {
        *(void **)&p_parser_initialize = dlsym(handle, "yaml_parser_initialize");
        *(void **)&p_parser_delete = dlsym(handle, "yaml_parser_delete");
        *(void **)&p_parser_set_input_string = dlsym(handle, "yaml_parser_set_input_string");
        *(void **)&p_parser_parse = dlsym(handle, "yaml_parser_parse");
        *(void **)&p_event_delete = dlsym(handle, "yaml_event_delete");
    }
    if (!handle || !p_parser_initialize || !p_parser_delete || !p_parser_set_input_string || !p_parser_parse ||
        !p_event_delete) {
        PyErr_SetString(PyExc_ImportError, "alerting_yamlbuild: PyYAML's yaml._yaml does not export libyaml");
        return -1;
    }
    return 0;
}

/* The header this was compiled with must describe the events the carried libyaml produces. */
static int self_test(void) {
    static const char probe[] = "k: !t &a v\n";
    static const yaml_event_type_t want[] = {YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT,
                                             YAML_MAPPING_START_EVENT, YAML_SCALAR_EVENT, YAML_SCALAR_EVENT,
                                             YAML_MAPPING_END_EVENT, YAML_DOCUMENT_END_EVENT,
                                             YAML_STREAM_END_EVENT};
    yaml_parser_t *parser = PyMem_Calloc(1, PARSER_BYTES);
    int ok = parser != NULL && p_parser_initialize(parser);
    if (ok) {
        p_parser_set_input_string(parser, (const unsigned char *)probe, sizeof probe - 1);
        for (size_t i = 0; ok && i < sizeof want / sizeof want[0]; i++) {
            yaml_event_t event;
            if (!p_parser_parse(parser, &event)) {
                ok = 0;
                break;
            }
            ok = event.type == want[i];
            if (ok && i == 4) {
                ok = event.data.scalar.length == 1 && event.data.scalar.value[0] == 'v' &&
                     event.data.scalar.tag && strcmp((const char *)event.data.scalar.tag, "!t") == 0 &&
                     event.data.scalar.anchor && strcmp((const char *)event.data.scalar.anchor, "a") == 0 &&
                     event.start_mark.line == 0 && event.start_mark.column == 3;
            }
            p_event_delete(&event);
        }
        p_parser_delete(parser);
    }
    PyMem_Free(parser);
    if (!ok) {
        PyErr_SetString(PyExc_ImportError, "alerting_yamlbuild: compiled against a yaml.h that does not match "
                                           "the libyaml PyYAML carries");
        return -1;
    }
    return 0;
}

static PyMethodDef methods[] = {
    {"build", build, METH_VARARGS,
     "build(text, resolved, resolve, unusual, max_nodes, max_depth, max_scalar_bytes, with_marks) -> "
     "(data, root_mark, marks or None) or None when the file is not the common case."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "alerting_yamlbuild",
                                    "The stack-file builder's common case, in C (see components/stackfile.py).",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_alerting_yamlbuild(void) {
    if (bind_libyaml() < 0 || self_test() < 0) return NULL;
    return PyModule_Create(&module);
}
