# _k_engine.pxi - the fused training engine (included by _kernels.pyx); see dlcore/engine.py.
# Arrays reach C through the buffer protocol (no Python objects are created per call); the
# Python layer (engine.py) has checked dtypes and shapes and keeps every bound array alive.
from cpython.pycapsule cimport PyCapsule_GetPointer

cdef extern from *:
    """
    /* numpy's bitgen_t (numpy/random/bitgen.h), the interface of its bit generators */
    typedef struct dl_np_bitgen {
        void *state;
        uint64_t (*next_uint64)(void *st);
        uint32_t (*next_uint32)(void *st);
        double (*next_double)(void *st);
        uint64_t (*next_raw)(void *st);
    } dl_np_bitgen;
    """
    ctypedef struct dl_np_bitgen:
        void *state
        double (*next_double)(void *st) noexcept nogil

cdef dl_np_bitgen *_bitgen(bit_generator) except NULL:
    """The bitgen_t behind a numpy BitGenerator."""
    return <dl_np_bitgen *>PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")


# numpy's MT19937 (the legacy global generator's) drawn in blocks by the C code, reading and
# advancing its state (dl_mt19937) in place. That layout is numpy's own, not its public API,
# so it is used only after a check: once per process, on a generator of its own (never the
# caller's, whose lock may be held), the words and the position read in place are compared
# with the public ``state``; if they differ, every draw goes through numpy's next_double, one
# call per double, as before.
cdef int _mt_layout = -1  # -1 not checked yet, 1 checked, 0 different: never used
cdef bint _mt_enabled = True
cdef object _MT19937 = None


cdef int _mt_check_layout():
    """1 when numpy's MT19937 state reads as a dl_mt19937, else 0 (anything unexpected on
    the way, such as a numpy without these names, also gives 0: the one-by-one draws)."""
    global _MT19937
    cdef dl_mt19937 *s
    try:
        from numpy.random import MT19937
        probe = MT19937(20261207)
        probe.random_raw(1000)  # a position inside the state
        s = <dl_mt19937 *>_bitgen(probe).state
        st = probe.state["state"]
        key = st["key"]
        ok = (st["pos"] == s.pos and 0 < s.pos < 624 and len(key) == 624 and
              (<char *>s.key)[:sizeof(s.key)] == key.astype("=u4").tobytes())
    except Exception:
        return 0
    _MT19937 = MT19937
    return 1 if ok else 0


cdef int _mt_layout_ok():
    """1 when the layout checked out (the check runs on the first call), else 0."""
    global _mt_layout
    if _mt_layout < 0:
        _mt_layout = _mt_check_layout()
    return _mt_layout


cdef dl_mt19937 *_mt_state(bit_generator, dl_np_bitgen *bg) except? NULL:
    """bg's state as a dl_mt19937 when bit_generator is a numpy MT19937 (not a subclass)
    and the layout checked out, else NULL."""
    if not _mt_enabled or not _mt_layout_ok() or type(bit_generator) is not _MT19937:
        return NULL
    return <dl_mt19937 *>bg.state


def mt19937_blocks(enabled=None):
    """Whether numpy's MT19937 is drawn in blocks by dlcore's C code (True: the default, where
    its state layout checked out) or through numpy's next_double one double at a time
    (False); ``enabled`` switches it (for tests; a fused plan reads it when it is built).
    Both give the same stream."""
    global _mt_enabled
    if enabled is not None:
        _mt_enabled = bool(enabled)
    return bool(_mt_enabled) and _mt_layout_ok() == 1


def mt19937_fill(u, bit_generator):
    """u (float64, C-contiguous) = the next u.size doubles that
    ``numpy.random.RandomState(bit_generator).random_sample`` would give, drawn in blocks from
    the numpy MT19937 ``bit_generator`` (the caller holds its lock).
    Returns False, drawing nothing, where the block path is not used (see
    :func:`mt19937_blocks`, or a generator of another kind)."""
    cdef dl_np_bitgen *bg = _bitgen(bit_generator)
    cdef dl_mt19937 *s = _mt_state(bit_generator, bg)
    cdef Args A
    cdef int iu, r = -1
    if s == NULL:
        return False
    args_init(&A)
    try:
        iu = take(&A, u, A_FLOAT | A_WRITE, 0, "mt19937_fill u")
        if A.t != T_F64:
            raise TypeError("mt19937_fill u: expected float64 data; got float32 data")
        with nogil:
            r = dl_mt19937_doubles(<double *>ptr(&A, iu), count(&A, iu), s)
    finally:
        args_release(&A)
    return r == 0


def dropout_draw(mask, double ratio, bit_generator, y=None, x=None, double scale=1):
    """mask = (the next mask.size doubles of bit_generator) > ratio, the book's
    ``np.random.rand(n) > ratio`` on numpy's global generator (the caller holds its lock); with
    y and x also y = x * mask * scale (dl_dropout_forward) in the same call."""
    cdef dl_np_bitgen *bg = _bitgen(bit_generator)
    cdef dl_mt19937 *mt
    cdef Args A
    args_init(&A)
    cdef int im, iy, ix
    cdef dl_index n
    cdef uint8_t *pm
    try:
        im = take(&A, mask, A_U8 | A_WRITE, 0, "dropout_draw mask")
        iy = take(&A, y, A_FLOAT | A_WRITE | A_NONE, 0, "dropout_draw y")
        ix = take(&A, x, A_FLOAT | (A_NONE if iy < 0 else 0), 0, "dropout_draw x")
        n = count(&A, im)
        if iy >= 0:
            same_size(count(&A, iy), n, "dropout_draw y")
            same_size(count(&A, ix), n, "dropout_draw x")
        if n == 0:
            return
        pm = <uint8_t *>ptr(&A, im)
        mt = _mt_state(bit_generator, bg)
        with nogil:
            if mt == NULL or dl_dropout_draw_mt19937(pm, n, ratio, mt) != 0:
                dl_dropout_draw(pm, n, ratio, bg.next_double, bg.state)
            if iy >= 0:
                if A.t == T_F32:
                    dl_dropout_forward_f32(<float *>ptr(&A, iy), <const float *>ptr(&A, ix), pm,
                                           n, scale)
                else:
                    dl_dropout_forward_f64(<double *>ptr(&A, iy), <const double *>ptr(&A, ix),
                                           pm, n, scale)
    finally:
        args_release(&A)


ENGINE_TYPE_F64 = 0
ENGINE_TYPE_F32 = 1
ENGINE_TYPE_NONE = 5


cdef int _engine_status(dl_status s, dl_index bad, str what) except -1:
    return raise_status(s, what, f"expected labels in [0, classes); got a bad label at "
                                 f"position {bad}")


def engine_alloc_count():
    """Workspace allocations made by all fused engines so far (constant across steps)."""
    return dl_engine_alloc_count()


cdef int _check_buffers(Py_buffer *vx, Py_buffer *vt, Py_buffer *vl, int tt, dl_index N,
                        Py_ssize_t insize, dl_index classes, int elem, str what) except -1:
    """Sizes and alignment of the caller's buffers against the engine's shapes (defence in
    depth: FusedTrainer already shapes them): x holds N samples, labels N entries, one-hot
    targets and logits N * classes, each element aligned."""
    if vx.len != N * insize * vx.itemsize:
        raise ValueError(f"{what}: expected x of {N} samples of {insize} values; got "
                         f"{vx.len // vx.itemsize} values")
    if (<size_t>vx.buf) % vx.itemsize:
        raise ValueError(f"{what}: expected an aligned x")
    if vt != NULL:
        if vt.len // vt.itemsize != (N * classes if tt <= 1 else N):
            raise ValueError(f"{what}: expected {N} labels or {N}x{classes} one-hot targets; "
                             f"got {vt.len // vt.itemsize} values")
        if (<size_t>vt.buf) % vt.itemsize:
            raise ValueError(f"{what}: expected aligned targets")
    if vl != NULL:
        if _type_code(vl) != (0 if elem == 8 else 1) or vl.len != N * classes * vl.itemsize \
                or (<size_t>vl.buf) % vl.itemsize:
            raise ValueError(f"{what}: expected aligned logits of the engine's dtype, "
                             f"{N}x{classes}")
    return 0


cdef class Engine:
    """A C fused-step engine (private; use dlcore.engine.FusedTrainer)."""
    cdef dl_engine *e
    cdef readonly int elem
    cdef readonly Py_ssize_t insize
    cdef object _rng_owner
    cdef dict _bound

    def __cinit__(self, int elem, Py_ssize_t cap, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W):
        self.e = dl_engine_new(elem, cap, C, H, W)
        if self.e == NULL:
            raise ValueError(f"Engine: expected elem 4 or 8 and positive sizes; got elem={elem}, "
                             f"cap={cap}, input=({C}, {H}, {W})")
        self.elem = elem
        self.insize = C * H * W
        self._bound = {}

    def __dealloc__(self):
        if self.e != NULL:
            dl_engine_free(self.e)
            self.e = NULL

    def add(self, int kind, iargs=(), dargs=()):
        cdef dl_index ia[8]
        cdef double da[4]
        cdef int i
        if len(iargs) > 8 or len(dargs) > 4:
            raise ValueError("Engine.add: too many arguments")
        for i in range(len(iargs)):
            ia[i] = iargs[i]
        for i in range(len(dargs)):
            da[i] = dargs[i]
        _engine_status(dl_engine_add(self.e, kind, ia, da), -1, f"Engine.add(kind={kind})")

    def finish(self):
        _engine_status(dl_engine_finish(self.e), -1, "Engine.finish")

    @property
    def classes(self):
        return dl_engine_classes(self.e)

    @property
    def capacity(self):
        return dl_engine_capacity(self.e)

    def bind(self, int op, int slot, object arr):
        """Binds a writable C-contiguous array of the engine's dtype to op's slot."""
        cdef Py_buffer v
        PyObject_GetBuffer(arr, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE)
        try:
            if _type_code(&v) != (0 if self.elem == 8 else 1):
                raise TypeError("Engine.bind: expected an array of the engine's dtype")
            _engine_status(dl_engine_bind(self.e, op, slot, v.buf, v.len // v.itemsize), -1,
                           f"Engine.bind(op={op}, slot={slot})")
            self._bound[op, slot] = arr  # the engine reads it until it is rebound or freed
        finally:
            PyBuffer_Release(&v)

    def set_optimizer(self, int opt, double weight_decay=0.0):
        _engine_status(dl_engine_set_optimizer(self.e, opt, weight_decay), -1,
                       "Engine.set_optimizer")

    def set_rng_counter(self, unsigned long long seed):
        """Fast dropout masks: a hash of (seed, op, step, element), any thread count."""
        dl_engine_set_rng(self.e, 1, NULL, NULL, seed)
        self._rng_owner = None

    def set_rng_numpy(self, bit_generator):
        """Book dropout masks: drawn from this numpy bit generator (numpy's legacy global
        MT19937 in the book's use), one double per element in the book's order."""
        cdef dl_np_bitgen *bg = _bitgen(bit_generator)
        cdef dl_mt19937 *mt = _mt_state(bit_generator, bg)
        dl_engine_set_rng(self.e, 0 if mt == NULL else 2, bg.next_double, bg.state, 0)
        self._rng_owner = bit_generator

    def forward(self, x, t, int mode, logits=None):
        """Forward over x's rows; returns the loss (float) when t is given, else None."""
        cdef Py_buffer vx, vt, vl
        cdef bint ht = t is not None, hl = logits is not None
        cdef int xt, tt = 5
        cdef double loss = 0
        cdef dl_index bad = -1, N
        cdef dl_status s
        PyObject_GetBuffer(x, &vx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        if ht:
            try:
                PyObject_GetBuffer(t, &vt, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
            except BaseException:
                PyBuffer_Release(&vx)
                raise
        if hl:
            try:
                PyObject_GetBuffer(logits, &vl, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE)
            except BaseException:
                PyBuffer_Release(&vx)
                if ht:
                    PyBuffer_Release(&vt)
                raise
        try:
            xt = _type_code(&vx)
            if ht:
                tt = _type_code(&vt)
            if xt < 0 or xt > 2 or tt < 0:
                raise TypeError("Engine.forward: unsupported input or target dtype")
            N = vx.shape[0] if vx.ndim > 0 else 0
            _check_buffers(&vx, &vt if ht else NULL, &vl if hl else NULL, tt, N, self.insize,
                           dl_engine_classes(self.e), self.elem, "Engine.forward")
            with nogil:
                if self.elem == 8:
                    s = dl_engine_forward_f64(self.e, <double *>(vl.buf if hl else NULL), &loss,
                                              &bad, vx.buf, xt, vt.buf if ht else NULL, tt, N, mode)
                else:
                    s = dl_engine_forward_f32(self.e, <float *>(vl.buf if hl else NULL), &loss,
                                              &bad, vx.buf, xt, vt.buf if ht else NULL, tt, N, mode)
            _engine_status(s, bad, "FusedTrainer forward")
        finally:
            PyBuffer_Release(&vx)
            if ht:
                PyBuffer_Release(&vt)
            if hl:
                PyBuffer_Release(&vl)
        return loss if ht else None

    def backward(self):
        cdef dl_status s
        with nogil:
            if self.elem == 8:
                s = dl_engine_backward_f64(self.e)
            else:
                s = dl_engine_backward_f32(self.e)
        _engine_status(s, -1, "FusedTrainer backward (call a training forward first)")

    def update(self, double a, double b=0.0, double c=0.0, double d=0.0):
        cdef dl_status s
        with nogil:
            if self.elem == 8:
                s = dl_engine_update_f64(self.e, a, b, c, d)
            else:
                s = dl_engine_update_f32(self.e, a, b, c, d)
        _engine_status(s, -1, "FusedTrainer update")

    def predict(self, x, logits):
        cdef Py_buffer vx, vl
        cdef dl_status s
        cdef int xt
        cdef dl_index N
        PyObject_GetBuffer(x, &vx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        try:
            PyObject_GetBuffer(logits, &vl, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE)
        except BaseException:
            PyBuffer_Release(&vx)
            raise
        try:
            xt = _type_code(&vx)
            if xt < 0 or xt > 2:
                raise TypeError("Engine.predict: unsupported input dtype")
            N = vx.shape[0] if vx.ndim > 0 else 0
            _check_buffers(&vx, NULL, &vl, 5, N, self.insize, dl_engine_classes(self.e),
                           self.elem, "Engine.predict")
            with nogil:
                if self.elem == 8:
                    s = dl_engine_predict_f64(self.e, <double *>vl.buf, vx.buf, xt, N)
                else:
                    s = dl_engine_predict_f32(self.e, <float *>vl.buf, vx.buf, xt, N)
            _engine_status(s, -1, "FusedTrainer predict")
        finally:
            PyBuffer_Release(&vx)
            PyBuffer_Release(&vl)

    def out_size(self, int op):
        """Elements per sample of op's output."""
        cdef dl_index n = dl_engine_out_size(self.e, op)
        if n < 0:
            raise IndexError(f"Engine.out_size: expected an op index in [0, ops); got {op}")
        return n

    def mask(self, int op, Py_ssize_t rows):
        """A copy (bytes) of dropout op's last training mask: rows * out_size(op) bytes,
        rows at most the capacity."""
        cdef const uint8_t *m = dl_engine_mask(self.e, op)
        if m == NULL:
            raise ValueError(f"Engine.mask: op {op} is not a dropout op")
        if rows < 0 or rows > dl_engine_capacity(self.e):
            raise ValueError(f"Engine.mask: expected rows in [0, {dl_engine_capacity(self.e)}]; "
                             f"got {rows}")
        return (<const char *>m)[:rows * dl_engine_out_size(self.e, op)]
