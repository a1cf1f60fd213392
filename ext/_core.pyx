# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, binding=True
"""The compiled core: tokeniser, hashes, min-hashes, super/mega-shingles, I-Match.

It follows shingles/_reference.py step by step; read that file for the
specification. Nothing else lives here: no I/O, no policy.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcpy, memmove, memset
from cpython.unicode cimport PyUnicode_Substring

# Imported under private names: the module's public API is State and LexiconTable.
from shingles import _reference, _unicode as _unicode_tables, scheme as _scheme
_normalise = _reference.normalise


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    int PyUnicode_KIND(object)
    void *PyUnicode_DATA(object)
    uint32_t PyUnicode_READ(int kind, void *data, Py_ssize_t index) nogil
    bint Py_UNICODE_ISALNUM(uint32_t ch) nogil
    bint Py_UNICODE_ISDECIMAL(uint32_t ch) nogil

cdef extern from "xxh_inline.h" nogil:
    uint64_t XXH3_64bits_withSeed(const void *data, size_t length, uint64_t seed)

cdef extern from "kernels.h" nogil:
    void shingles_minhash_update(uint64_t *mins, const uint64_t *a, const uint64_t *b,
                                 int perm, const uint64_t *xs, size_t n)

cdef extern from *:
    """
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    #error "shingles: the core hashes uint64 arrays as little-endian bytes; big-endian hosts are not supported yet"
    #endif
    """

cdef enum:
    PERM = 84
    C_BANDS = 6
    C_ROWS = 14
    C_PAIRS = 15
    MAX_WINDOW = 16
    TOKEN_CAP = 64
    BATCH = 256  # shingles buffered per call of the min-hash kernel

cdef enum:
    F_WORD = 1
    F_DROP = 2
    F_DECIMAL = 4
    F_LATIN = 8
    F_CYRILLIC = 16
    F_CONTEXT = 32

if (_scheme.NUM_PERM, _scheme.BANDS, _scheme.ROWS, _scheme.MAX_TOKEN_CHARS) != (
        PERM, C_BANDS, C_ROWS, TOKEN_CAP):
    raise ImportError("shingles._core was built for another scheme layout; rebuild it")

cdef Py_ssize_t CHUNK = _scheme.CHUNK_CHARS
cdef uint64_t MASK_ALL = 0xFFFFFFFFFFFFFFFF

# ---------------------------------------------------------------- character classes

cdef uint8_t BMP_FLAGS[65536]
cdef uint32_t *DROP_LO
cdef uint32_t *DROP_HI
cdef Py_ssize_t DROP_N
cdef uint32_t *MARK_LO
cdef uint32_t *MARK_HI
cdef Py_ssize_t MARK_N
cdef uint32_t *CONTEXT_LO
cdef uint32_t *CONTEXT_HI
cdef Py_ssize_t CONTEXT_N
cdef uint32_t FOLD_FROM[32]   # Cyrillic look-alikes ...
cdef uint32_t FOLD_TO[32]     # ... and their Latin twins
cdef int FOLD_N


cdef Py_ssize_t load_ranges(ranges, uint32_t **lo, uint32_t **hi) except -1:
    n = len(ranges)
    lo[0] = <uint32_t *>malloc(n * sizeof(uint32_t) + 1)
    hi[0] = <uint32_t *>malloc(n * sizeof(uint32_t) + 1)
    if lo[0] == NULL or hi[0] == NULL:
        raise MemoryError()
    for i, (first, last) in enumerate(ranges):
        lo[0][i] = first
        hi[0][i] = last
    return n


cdef inline bint in_ranges(uint32_t cp, const uint32_t *lo, const uint32_t *hi,
                           Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t left = 0, right = n, mid
    while left < right:  # first range whose start is above cp
        mid = (left + right) >> 1
        if lo[mid] <= cp:
            left = mid + 1
        else:
            right = mid
    return left > 0 and cp <= hi[left - 1]


cdef uint8_t compute_flags(uint32_t cp) noexcept:
    cdef uint8_t flags = 0
    if in_ranges(cp, DROP_LO, DROP_HI, DROP_N):
        flags = F_DROP
    elif Py_UNICODE_ISALNUM(cp) or in_ranges(cp, MARK_LO, MARK_HI, MARK_N):
        flags |= F_WORD
    if Py_UNICODE_ISDECIMAL(cp):
        flags |= F_DECIMAL
    if in_ranges(cp, CONTEXT_LO, CONTEXT_HI, CONTEXT_N):
        flags |= F_CONTEXT
    return flags


cdef inline uint8_t flags_of(uint32_t cp) noexcept:
    if cp < 65536:
        return BMP_FLAGS[cp]
    return compute_flags(cp)


cdef void init_tables() except *:
    global DROP_N, MARK_N, CONTEXT_N, FOLD_N
    DROP_N = load_ranges(_unicode_tables.DROP_RANGES, &DROP_LO, &DROP_HI)
    MARK_N = load_ranges(_unicode_tables.MARK_RANGES, &MARK_LO, &MARK_HI)
    CONTEXT_N = load_ranges(_unicode_tables.CONTEXT_RANGES, &CONTEXT_LO, &CONTEXT_HI)
    cdef uint32_t cp
    for cp in range(65536):
        BMP_FLAGS[cp] = compute_flags(cp)
    # Both scripts live in the BMP, so astral characters never count for either.
    for first, last in _reference.LATIN_RANGES:
        for cp in range(first, last + 1):
            BMP_FLAGS[cp] |= F_LATIN
    for first, last in _reference.CYRILLIC_RANGES:
        for cp in range(first, last + 1):
            BMP_FLAGS[cp] |= F_CYRILLIC
    FOLD_N = 0
    for cyrillic, latin in _reference.CYRILLIC_TO_LATIN.items():
        FOLD_FROM[FOLD_N] = ord(cyrillic)
        FOLD_TO[FOLD_N] = ord(latin)
        FOLD_N += 1


init_tables()

cdef enum:
    ASCII_OTHER = 0
    ASCII_LOWER = 1
    ASCII_UPPER = 2
    ASCII_DIGIT = 3

cdef uint8_t ASCII_KIND[128]
for _c in range(128):
    ASCII_KIND[_c] = (ASCII_LOWER if 97 <= _c <= 122 else ASCII_UPPER if 65 <= _c <= 90
                      else ASCII_DIGIT if 48 <= _c <= 57 else ASCII_OTHER)


# ---------------------------------------------------------------- per-character normal forms
#
# Most text has no context characters, and then its normal form is the
# concatenation of each character's. Those forms are computed once per character
# (with the reference's normalise(), so both agree by construction) and kept:
# MAP_INFO[cp] = length << 24 | offset into MAP_POOL, 0 while not yet known.

cdef uint32_t MAP_INFO[65536]
cdef uint32_t *MAP_POOL = NULL
cdef Py_ssize_t MAP_POOL_LEN = 0, MAP_POOL_CAP = 0
cdef dict ASTRAL_FORMS = {}


cdef uint32_t bmp_form(uint32_t cp) except 0:
    """Return MAP_INFO of a BMP character, computing its normal form the first time."""
    global MAP_POOL, MAP_POOL_LEN, MAP_POOL_CAP
    if MAP_INFO[cp]:
        return MAP_INFO[cp]
    cdef str form = _normalise(chr(cp))
    cdef Py_ssize_t n = len(form), j
    cdef uint32_t *grown
    if MAP_POOL_LEN + n > MAP_POOL_CAP:
        MAP_POOL_CAP = max(4096, 2 * MAP_POOL_CAP + n)
        grown = <uint32_t *>realloc(MAP_POOL, MAP_POOL_CAP * sizeof(uint32_t))
        if grown == NULL:
            raise MemoryError()
        MAP_POOL = grown
    for j in range(n):
        MAP_POOL[MAP_POOL_LEN + j] = ord(form[j])
    MAP_INFO[cp] = <uint32_t>(n << 24 | MAP_POOL_LEN)
    MAP_POOL_LEN += n
    return MAP_INFO[cp]


cdef str astral_form(uint32_t cp):
    form = ASTRAL_FORMS.get(cp)
    if form is None:
        form = ASTRAL_FORMS[cp] = _normalise(chr(cp))
    return form


cdef bint has_context(str text) noexcept:
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t i
    for i in range(len(text)):
        if flags_of(PyUnicode_READ(kind, data, i)) & F_CONTEXT:
            return True
    return False


cdef inline int utf8_put(char *out, uint32_t cp) noexcept nogil:
    # Surrogates never reach here: they are not word characters.
    if cp < 0x80:
        out[0] = <char>cp
        return 1
    if cp < 0x800:
        out[0] = <char>(0xC0 | (cp >> 6))
        out[1] = <char>(0x80 | (cp & 0x3F))
        return 2
    if cp < 0x10000:
        out[0] = <char>(0xE0 | (cp >> 12))
        out[1] = <char>(0x80 | ((cp >> 6) & 0x3F))
        out[2] = <char>(0x80 | (cp & 0x3F))
        return 3
    out[0] = <char>(0xF0 | (cp >> 18))
    out[1] = <char>(0x80 | ((cp >> 12) & 0x3F))
    out[2] = <char>(0x80 | ((cp >> 6) & 0x3F))
    out[3] = <char>(0x80 | (cp & 0x3F))
    return 4


cdef inline uint64_t hash_u64(uint64_t value, uint64_t seed) noexcept nogil:
    return XXH3_64bits_withSeed(&value, 8, seed)


cdef int compare_u64(const void *x, const void *y) noexcept nogil:
    cdef uint64_t a = (<const uint64_t *>x)[0], b = (<const uint64_t *>y)[0]
    return (a > b) - (a < b)


cdef Py_ssize_t sort_unique(uint64_t *values, Py_ssize_t n) noexcept nogil:
    """Sort values in place and drop repeats; return how many are left."""
    if n < 2:
        return n
    qsort(values, n, sizeof(uint64_t), compare_u64)
    cdef Py_ssize_t kept = 1, i
    for i in range(1, n):
        if values[i] != values[kept - 1]:
            values[kept] = values[i]
            kept += 1
    return kept


# One scheme seed is used by almost every caller: keep its coefficients.
cdef uint64_t CACHED_SEED = 0
cdef bint HAVE_CACHED = False
cdef uint64_t CACHED_A[PERM]
cdef uint64_t CACHED_B[PERM]


cdef void permutations(uint64_t seed, uint64_t *a, uint64_t *b) noexcept:
    """Fill a and b with the coefficients of the 84 min-wise hash functions."""
    global CACHED_SEED, HAVE_CACHED
    cdef int i
    if not HAVE_CACHED or CACHED_SEED != seed:
        for i in range(PERM):
            CACHED_A[i] = hash_u64(i, seed + 2) | 1
            CACHED_B[i] = hash_u64(i, seed + 3)
        CACHED_SEED, HAVE_CACHED = seed, True
    memcpy(a, CACHED_A, sizeof(CACHED_A))
    memcpy(b, CACHED_B, sizeof(CACHED_B))


cdef inline bint is_ascii_space(uint32_t cp) noexcept nogil:
    return cp == 32 or 9 <= cp <= 13


# ---------------------------------------------------------------- lexicon look-up

cdef class LexiconTable:
    """Term hash -> sub-lexicon mask, an open-addressing table built once per lexicon."""

    cdef uint64_t *keys
    cdef uint64_t *masks
    cdef uint64_t slots_mask
    cdef bint has_zero
    cdef uint64_t zero_mask
    cdef readonly int min_terms
    cdef readonly int signatures

    def __init__(self, bytes terms, bytes masks, int min_terms, int signatures):
        if len(terms) != len(masks) or len(terms) % 8:
            raise ValueError("terms and masks must be equal runs of 8-byte integers")
        if not 1 <= signatures <= 64:
            raise ValueError(f"signatures must be 1..64, got {signatures}")
        self.min_terms = min_terms
        self.signatures = signatures
        cdef Py_ssize_t n = len(terms) // 8, slots = 16, i
        while slots < 2 * n:
            slots *= 2
        self.keys = <uint64_t *>malloc(slots * sizeof(uint64_t))
        self.masks = <uint64_t *>malloc(slots * sizeof(uint64_t))
        if self.keys == NULL or self.masks == NULL:
            raise MemoryError()
        memset(self.keys, 0, slots * sizeof(uint64_t))
        self.slots_mask = slots - 1
        cdef const uint64_t *term_in = <const uint64_t *><const char *>terms
        cdef const uint64_t *mask_in = <const uint64_t *><const char *>masks
        cdef uint64_t key, slot
        for i in range(n):
            key = term_in[i]
            if key == 0:  # 0 marks an empty slot, so the term 0 is kept aside
                self.has_zero, self.zero_mask = True, mask_in[i]
                continue
            slot = key & self.slots_mask
            while self.keys[slot] != 0 and self.keys[slot] != key:
                slot = (slot + 1) & self.slots_mask
            self.keys[slot] = key
            self.masks[slot] = mask_in[i]

    def __dealloc__(self):
        free(self.keys)
        free(self.masks)

    cdef inline uint64_t lookup(self, uint64_t key) noexcept nogil:
        """Return the term's sub-lexicon mask, 0 when it is not in the lexicon."""
        if key == 0:
            return self.zero_mask if self.has_zero else 0
        cdef uint64_t slot = key & self.slots_mask
        while self.keys[slot] != 0:
            if self.keys[slot] == key:
                return self.masks[slot]
            slot = (slot + 1) & self.slots_mask
        return 0


# ---------------------------------------------------------------- fingerprint state

cdef class State:
    """Fingerprint state fed with text in any number of pieces; O(1) in text length."""

    # scheme
    cdef int window, min_shingles
    cdef bint fold_digits, fold_links
    cdef uint64_t seed, link_token
    cdef uint64_t a[PERM]
    cdef uint64_t b[PERM]
    # raw text not yet normalised (only the tail after the last cut)
    cdef str pending
    # the word being read
    cdef uint32_t word[TOKEN_CAP]
    cdef char utf8[TOKEN_CAP * 4]
    cdef int word_len, utf8_len, latin, cyrillic
    cdef bint in_digits
    # shingles
    cdef uint64_t recent[MAX_WINDOW]
    cdef int recent_len
    cdef uint64_t batch[BATCH]
    cdef int batch_len
    cdef uint64_t mins[PERM]
    cdef uint64_t *distinct
    cdef Py_ssize_t distinct_len
    cdef Py_ssize_t tokens, shingles
    # I-Match
    cdef LexiconTable lexicon
    cdef bint keep_tokens
    cdef uint64_t *terms
    cdef Py_ssize_t terms_len, terms_cap, terms_unique

    def __init__(self, scheme, LexiconTable lexicon=None, bint keep_tokens=False):
        self.window = scheme.window
        self.min_shingles = scheme.min_shingles
        self.fold_digits = scheme.digits == "fold"
        self.fold_links = scheme.links == "fold"
        self.seed = scheme.seed
        self.link_token = XXH3_64bits_withSeed(b"//", 2, self.seed)  # reference LINK_TOKEN
        if not 1 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window must be 1..{MAX_WINDOW} words, got {self.window}")
        permutations(self.seed, self.a, self.b)
        cdef int i
        for i in range(PERM):
            self.mins[i] = MASK_ALL
        self.pending = ""
        self.distinct = <uint64_t *>malloc(self.min_shingles * sizeof(uint64_t))
        if self.distinct == NULL:
            raise MemoryError()
        self.lexicon = lexicon
        self.keep_tokens = keep_tokens

    def __dealloc__(self):
        free(self.distinct)
        free(self.terms)

    def feed(self, text):
        """Add text; raise TypeError for anything but str."""
        if not isinstance(text, str):
            raise TypeError(f"feed() takes str, not {type(text).__name__}; "
                            "decode bytes first, e.g. data.decode('utf-8', 'replace')")
        self.feed_text(<str>text, False)

    def finish(self):
        """Return (tokens, shingles, distinct, minhashes, supers, megas, imatch)."""
        self.feed_text("", True)
        self.end_word()
        self.flush()
        cdef bytes mh = b"", ss = b"", mega = b""
        cdef uint64_t supers[C_BANDS]
        cdef uint64_t megas[C_PAIRS]
        cdef uint64_t pair[2]
        cdef int k, i, j, p = 0
        if self.distinct_len >= self.min_shingles:
            for k in range(C_BANDS):
                supers[k] = XXH3_64bits_withSeed(&self.mins[k * C_ROWS], C_ROWS * 8, self.seed + 4 + k)
            for i in range(C_BANDS):
                for j in range(i + 1, C_BANDS):
                    pair[0], pair[1] = supers[i], supers[j]
                    megas[p] = (<uint64_t>p << 60) | (XXH3_64bits_withSeed(pair, 16, self.seed + 10) >> 4)
                    p += 1
            mh = (<char *>self.mins)[:PERM * 8]
            ss = (<char *>supers)[:C_BANDS * 8]
            mega = (<char *>megas)[:p * 8]
        return (self.tokens, self.shingles, self.distinct_len, mh, ss, mega, self.imatch())

    def token_set(self):
        """Return the distinct token hashes, sorted, as little-endian uint64 (keep_tokens)."""
        self.terms_len = sort_unique(self.terms, self.terms_len)
        if self.terms_len == 0:
            return b""
        return (<char *>self.terms)[:self.terms_len * 8]

    cdef tuple imatch(self):
        if self.lexicon is None:
            return ()
        cdef Py_ssize_t n = sort_unique(self.terms, self.terms_len), i, chosen_len
        cdef uint64_t *chosen = <uint64_t *>malloc((n + 1) * sizeof(uint64_t))
        if chosen == NULL:
            raise MemoryError()
        found = []
        cdef int k
        try:
            for k in range(self.lexicon.signatures):
                chosen_len = 0
                for i in range(n):
                    if self.lexicon.lookup(self.terms[i]) >> k & 1:
                        chosen[chosen_len] = self.terms[i]
                        chosen_len += 1
                if chosen_len >= self.lexicon.min_terms:
                    found.append((<uint64_t>k << 56)
                                 | (XXH3_64bits_withSeed(chosen, chosen_len * 8, self.seed + 11) >> 8))
        finally:
            free(chosen)
        return tuple(found)

    cdef void feed_text(self, str text, bint final) except *:
        cdef str pending = self.pending + text if self.pending else text
        cdef Py_ssize_t cut
        while len(pending) > CHUNK:
            cut = last_cut(pending)
            self.feed_piece(pending[:cut])
            pending = pending[cut:]
        if final and pending:
            self.feed_piece(pending)
            pending = ""
        self.pending = pending

    cdef void feed_piece(self, str piece) except *:
        """Tokenise a raw piece: its links as one token (reference ReferenceState._feed_piece)."""
        if not self.fold_links:
            self.feed_segment(piece)
            return
        cdef int kind = PyUnicode_KIND(piece)
        cdef void *data = PyUnicode_DATA(piece)
        cdef Py_ssize_t n = len(piece), i = 0, start, last = 0
        while i < n:
            while i < n and is_ascii_space(PyUnicode_READ(kind, data, i)):
                i += 1
            start = i
            while i < n and not is_ascii_space(PyUnicode_READ(kind, data, i)):
                i += 1
            if i > start and is_link(kind, data, start, i):
                if start > last:
                    self.feed_segment(PyUnicode_Substring(piece, last, start))
                self.end_word()
                self.add_token(self.link_token)
                last = i
        if last == 0:
            self.feed_segment(piece)
        elif last < n:
            self.feed_segment(PyUnicode_Substring(piece, last, n))

    cdef void feed_segment(self, str piece) except *:
        """Normalise a piece (see reference normalise_piece) and tokenise it."""
        if PyUnicode_IS_ASCII(piece):
            self.feed_ascii(<const uint8_t *>PyUnicode_DATA(piece), len(piece))
            return
        if has_context(piece):
            self.feed_normalised(_normalise(piece))
            return
        cdef int kind = PyUnicode_KIND(piece)
        cdef void *data = PyUnicode_DATA(piece)
        cdef Py_ssize_t i, j, n = len(piece)
        cdef uint32_t cp, info
        for i in range(n):
            cp = PyUnicode_READ(kind, data, i)
            if cp < 128:
                # ASCII's normal form is its lower case.
                self.put(cp + 32 if 65 <= cp <= 90 else cp)
            elif cp < 65536:
                info = bmp_form(cp)
                for j in range(info & 0xFFFFFF, (info & 0xFFFFFF) + (info >> 24)):
                    self.put(MAP_POOL[j])
            else:
                self.feed_normalised(astral_form(cp))

    cdef int feed_ascii(self, const uint8_t *text, Py_ssize_t n) except -1:
        """Tokenise ASCII text: put() specialised for the commonest case, same result."""
        cdef Py_ssize_t i
        cdef uint8_t c, kind
        for i in range(n):
            c = text[i]
            kind = ASCII_KIND[c]
            if kind == ASCII_OTHER:
                if self.word_len or self.in_digits:
                    self.end_word()
                continue
            if kind == ASCII_DIGIT and self.fold_digits:
                if self.in_digits:
                    continue
                self.in_digits = True
                c = 48  # "0"
            else:
                self.in_digits = False
                if kind == ASCII_UPPER:
                    c += 32
                if kind != ASCII_DIGIT:
                    self.latin += 1
            self.word[self.word_len] = c
            self.utf8[self.utf8_len] = <char>c
            self.word_len += 1
            self.utf8_len += 1
            if self.word_len == TOKEN_CAP:
                self.end_word()
        return 0

    cdef void feed_normalised(self, str text) except *:
        cdef int kind = PyUnicode_KIND(text)
        cdef void *data = PyUnicode_DATA(text)
        cdef Py_ssize_t i
        for i in range(len(text)):
            self.put(PyUnicode_READ(kind, data, i))

    cdef inline int put(self, uint32_t cp) except -1:
        """Feed one normalised character to the tokeniser."""
        cdef uint8_t flags = flags_of(cp)
        if flags & F_DROP:
            return 0
        if not flags & F_WORD:
            if self.word_len or self.in_digits:
                self.end_word()
            return 0
        if self.fold_digits and flags & F_DECIMAL:
            if self.in_digits:
                return 0
            self.in_digits = True
            cp = 48  # "0"
            flags = F_WORD
        else:
            self.in_digits = False
        self.word[self.word_len] = cp
        self.word_len += 1
        self.utf8_len += utf8_put(&self.utf8[self.utf8_len], cp)
        if flags & F_LATIN:
            self.latin += 1
        elif flags & F_CYRILLIC:
            self.cyrillic += 1
        if self.word_len == TOKEN_CAP:
            self.end_word()
        return 0

    cdef int end_word(self) except -1:
        self.in_digits = False
        if self.word_len == 0:
            return 0
        if self.latin and self.cyrillic:
            self.fold_homoglyphs()
        cdef uint64_t token = XXH3_64bits_withSeed(self.utf8, self.utf8_len, self.seed)
        self.word_len = self.utf8_len = self.latin = self.cyrillic = 0
        return self.add_token(token)

    cdef void fold_homoglyphs(self) noexcept:
        # Map look-alikes of the minority script; a tie goes to Latin.
        cdef bint to_cyrillic = self.cyrillic > self.latin
        cdef int i, j
        cdef uint32_t cp
        self.utf8_len = 0
        for i in range(self.word_len):
            cp = self.word[i]
            for j in range(FOLD_N):
                if to_cyrillic and cp == FOLD_TO[j]:
                    cp = FOLD_FROM[j]
                    break
                if not to_cyrillic and cp == FOLD_FROM[j]:
                    cp = FOLD_TO[j]
                    break
            self.word[i] = cp
            self.utf8_len += utf8_put(&self.utf8[self.utf8_len], cp)

    cdef int add_token(self, uint64_t token) except -1:
        self.tokens += 1
        if self.keep_tokens or (self.lexicon is not None and self.lexicon.lookup(token)):
            self.add_term(token)
        if self.recent_len < self.window:
            self.recent[self.recent_len] = token
            self.recent_len += 1
            if self.recent_len < self.window:
                return 0
        else:
            memmove(self.recent, &self.recent[1], (self.window - 1) * sizeof(uint64_t))
            self.recent[self.window - 1] = token
        cdef uint64_t shingle = XXH3_64bits_withSeed(self.recent, self.window * 8, self.seed + 1)
        self.shingles += 1
        cdef Py_ssize_t i
        if self.distinct_len < self.min_shingles:
            for i in range(self.distinct_len):
                if self.distinct[i] == shingle:
                    break
            else:
                self.distinct[self.distinct_len] = shingle
                self.distinct_len += 1
        self.batch[self.batch_len] = shingle
        self.batch_len += 1
        if self.batch_len == BATCH:
            self.flush()
        return 0

    cdef void flush(self) noexcept:
        shingles_minhash_update(self.mins, self.a, self.b, PERM, self.batch, self.batch_len)
        self.batch_len = 0

    cdef int add_term(self, uint64_t term) except -1:
        cdef uint64_t *grown
        if self.terms_len == self.terms_cap:
            # Repeats are dropped before growing, so memory follows the distinct terms.
            self.terms_len = sort_unique(self.terms, self.terms_len)
            if self.terms_len >= self.terms_cap // 2:
                self.terms_cap = max(64, self.terms_cap * 2)
                grown = <uint64_t *>realloc(self.terms, self.terms_cap * sizeof(uint64_t))
                if grown == NULL:
                    raise MemoryError()
                self.terms = grown
        self.terms[self.terms_len] = term
        self.terms_len += 1
        return 0


cdef inline bint link_open(uint32_t c) noexcept:
    return c == 60 or c == 40 or c == 91 or c == 123 or c == 34 or c == 39 or c == 42  # <([{"'*


cdef inline bint link_close(uint32_t c) noexcept:
    return (c == 62 or c == 41 or c == 93 or c == 125 or c == 34 or c == 39  # >)]}"'
            or c == 46 or c == 44 or c == 59 or c == 58 or c == 33 or c == 63 or c == 42)  # .,;:!?*


cdef inline bint prefix_at(int kind, void *data, Py_ssize_t i, Py_ssize_t end, const char *word,
                           Py_ssize_t length) noexcept:
    """Return whether text[i:end] starts with the lower-case ASCII word, ASCII case-blind."""
    cdef Py_ssize_t k
    cdef uint32_t c
    if end - i < length:
        return False
    for k in range(length):
        c = PyUnicode_READ(kind, data, i + k)
        if 65 <= c <= 90:
            c += 32
        if c != <uint32_t>(<unsigned char>word[k]):
            return False
    return True


cdef bint is_link(int kind, void *data, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Return whether text[start:end] is a URL or a host name (reference is_link)."""
    cdef uint32_t c
    cdef Py_ssize_t i, labels = 1, label_len = 0, letters = 0
    while start < end and link_open(PyUnicode_READ(kind, data, start)):
        start += 1
    while end > start and link_close(PyUnicode_READ(kind, data, end - 1)):
        end -= 1
    if (prefix_at(kind, data, start, end, b"http://", 7)
            or prefix_at(kind, data, start, end, b"https://", 8)
            or prefix_at(kind, data, start, end, b"www.", 4)):
        return True
    for i in range(start, end):
        c = PyUnicode_READ(kind, data, i)
        if c == 47:  # "/": the host ends
            break
        if c == 46:  # "."
            if label_len == 0:
                return False
            labels += 1
            label_len = letters = 0
        elif 97 <= c <= 122:
            label_len += 1
            letters += 1
        elif 48 <= c <= 57 or c == 45:
            label_len += 1
        else:
            return False
    return labels >= 2 and 2 <= label_len <= 24 and letters == label_len


cdef Py_ssize_t last_cut(str text):
    """Return where the first piece of text ends: after its last ASCII space, else CHUNK."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t i
    for i in range(CHUNK - 1, -1, -1):
        if is_ascii_space(PyUnicode_READ(kind, data, i)):
            return i + 1
    return CHUNK
