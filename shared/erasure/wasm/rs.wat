;; Reed–Solomon GF(2^8) matrix × shards kernel, WebAssembly SIMD (split-nibble multiplication).
;;
;; For a coefficient c the host writes 32 bytes: L[x] = c·x and H[x] = c·(x << 4), x = 0..15.
;; Multiplication distributes over XOR, so for any byte v: c·v = L[v & 0x0f] ^ H[v >> 4], and
;; `i8x16.swizzle` performs 16 of those 16-entry lookups at once (pshufb / tbl underneath).
;;
;; mul_rows(tab, in, out, rows, cols, stride, len):
;;   for i < rows: out_i = XOR_{j < cols} coef(i, j) · in_j   over bytes [0, len)
;;   in_j  = in  + j·stride, out_i = out + i·stride, tables of coef(i, j) at tab + (i·cols + j)·32.
;;   len must be a multiple of 64 and ≤ stride; all pointers 16-byte aligned (the host pads).
;; Rows go two at a time ($pass22: each input vector is split into nibbles once and serves both
;; rows) and inputs two at a time (each output vector is loaded and stored once per input pair);
;; $pass2 and $pass1 handle an odd last row or input.
(module
  (memory (export "memory") 1)

  ;; dst[x] = (first ? 0 : dst[x]) ^ mul(t, a[x]) for x < len.
  (func $pass1 (param $a i32) (param $dst i32) (param $t i32) (param $len i32) (param $first i32)
    (local $end i32) (local $lo v128) (local $hi v128) (local $mask v128) (local $v v128)
    (local.set $mask (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (local.set $lo (v128.load (local.get $t)))
    (local.set $hi (v128.load offset=16 (local.get $t)))
    (local.set $end (i32.add (local.get $dst) (local.get $len)))
    (if (i32.eqz (local.get $len)) (then (return)))
    (if (local.get $first)
      (then
        (loop $set
          (local.set $v (v128.load (local.get $a)))
          (v128.store (local.get $dst)
            (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))))
          (local.set $v (v128.load offset=16 (local.get $a)))
          (v128.store offset=16 (local.get $dst)
            (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))))
          (local.set $v (v128.load offset=32 (local.get $a)))
          (v128.store offset=32 (local.get $dst)
            (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))))
          (local.set $v (v128.load offset=48 (local.get $a)))
          (v128.store offset=48 (local.get $dst)
            (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))))
          (local.set $a (i32.add (local.get $a) (i32.const 64)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
          (br_if $set (i32.lt_u (local.get $dst) (local.get $end)))))
      (else
        (loop $acc
          (local.set $v (v128.load (local.get $a)))
          (v128.store (local.get $dst)
            (v128.xor (v128.load (local.get $dst))
              (v128.xor
                (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
                (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask))))))
          (local.set $v (v128.load offset=16 (local.get $a)))
          (v128.store offset=16 (local.get $dst)
            (v128.xor (v128.load offset=16 (local.get $dst))
              (v128.xor
                (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
                (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask))))))
          (local.set $v (v128.load offset=32 (local.get $a)))
          (v128.store offset=32 (local.get $dst)
            (v128.xor (v128.load offset=32 (local.get $dst))
              (v128.xor
                (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
                (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask))))))
          (local.set $v (v128.load offset=48 (local.get $a)))
          (v128.store offset=48 (local.get $dst)
            (v128.xor (v128.load offset=48 (local.get $dst))
              (v128.xor
                (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
                (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask))))))
          (local.set $a (i32.add (local.get $a) (i32.const 64)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
          (br_if $acc (i32.lt_u (local.get $dst) (local.get $end)))))))

  ;; dst[x] = (first ? 0 : dst[x]) ^ mul(t, a[x]) ^ mul(t + 32, b[x]) for x < len, 32 bytes a turn.
  (func $pass2 (param $a i32) (param $b i32) (param $dst i32) (param $t i32) (param $len i32) (param $first i32)
    (local $end i32) (local $mask v128) (local $v v128) (local $w v128) (local $acc v128)
    (local $lo1 v128) (local $hi1 v128) (local $lo2 v128) (local $hi2 v128)
    (local.set $mask (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (local.set $lo1 (v128.load (local.get $t)))
    (local.set $hi1 (v128.load offset=16 (local.get $t)))
    (local.set $lo2 (v128.load offset=32 (local.get $t)))
    (local.set $hi2 (v128.load offset=48 (local.get $t)))
    (local.set $end (i32.add (local.get $dst) (local.get $len)))
    (if (i32.eqz (local.get $len)) (then (return)))
    (loop $turn
      ;; first 16 bytes
      (local.set $v (v128.load (local.get $a)))
      (local.set $w (v128.load (local.get $b)))
      (local.set $acc
        (v128.xor
          (v128.xor
            (i8x16.swizzle (local.get $lo1) (v128.and (local.get $v) (local.get $mask)))
            (i8x16.swizzle (local.get $hi1) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask))))
          (v128.xor
            (i8x16.swizzle (local.get $lo2) (v128.and (local.get $w) (local.get $mask)))
            (i8x16.swizzle (local.get $hi2) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $mask))))))
      (if (i32.eqz (local.get $first))
        (then (local.set $acc (v128.xor (local.get $acc) (v128.load (local.get $dst))))))
      (v128.store (local.get $dst) (local.get $acc))
      ;; second 16 bytes
      (local.set $v (v128.load offset=16 (local.get $a)))
      (local.set $w (v128.load offset=16 (local.get $b)))
      (local.set $acc
        (v128.xor
          (v128.xor
            (i8x16.swizzle (local.get $lo1) (v128.and (local.get $v) (local.get $mask)))
            (i8x16.swizzle (local.get $hi1) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask))))
          (v128.xor
            (i8x16.swizzle (local.get $lo2) (v128.and (local.get $w) (local.get $mask)))
            (i8x16.swizzle (local.get $hi2) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $mask))))))
      (if (i32.eqz (local.get $first))
        (then (local.set $acc (v128.xor (local.get $acc) (v128.load offset=16 (local.get $dst))))))
      (v128.store offset=16 (local.get $dst) (local.get $acc))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (br_if $turn (i32.lt_u (local.get $dst) (local.get $end)))))

  ;; Two inputs into two outputs (d1 = row i, d2 = row i + 1): each input vector is split into
  ;; nibbles once and used for both rows. t1 holds coef(i, j), coef(i, j+1); t2 the same for row i + 1.
  (func $pass22 (param $a i32) (param $b i32) (param $d1 i32) (param $d2 i32) (param $t1 i32) (param $t2 i32)
    (param $len i32) (param $first i32)
    (local $end i32) (local $mask v128) (local $v v128) (local $w v128)
    (local $vl v128) (local $vh v128) (local $wl v128) (local $wh v128) (local $acc1 v128) (local $acc2 v128)
    (local $l1a v128) (local $h1a v128) (local $l1b v128) (local $h1b v128)
    (local $l2a v128) (local $h2a v128) (local $l2b v128) (local $h2b v128)
    (local.set $mask (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (local.set $l1a (v128.load (local.get $t1)))
    (local.set $h1a (v128.load offset=16 (local.get $t1)))
    (local.set $l1b (v128.load offset=32 (local.get $t1)))
    (local.set $h1b (v128.load offset=48 (local.get $t1)))
    (local.set $l2a (v128.load (local.get $t2)))
    (local.set $h2a (v128.load offset=16 (local.get $t2)))
    (local.set $l2b (v128.load offset=32 (local.get $t2)))
    (local.set $h2b (v128.load offset=48 (local.get $t2)))
    (local.set $end (i32.add (local.get $d1) (local.get $len)))
    (if (i32.eqz (local.get $len)) (then (return)))
    (loop $turn
      (local.set $v (v128.load (local.get $a)))
      (local.set $w (v128.load (local.get $b)))
      (local.set $vl (v128.and (local.get $v) (local.get $mask)))
      (local.set $vh (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))
      (local.set $wl (v128.and (local.get $w) (local.get $mask)))
      (local.set $wh (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $mask)))
      (local.set $acc1 (v128.xor (v128.xor (i8x16.swizzle (local.get $l1a) (local.get $vl)) (i8x16.swizzle (local.get $h1a) (local.get $vh))) (v128.xor (i8x16.swizzle (local.get $l1b) (local.get $wl)) (i8x16.swizzle (local.get $h1b) (local.get $wh)))))
      (local.set $acc2 (v128.xor (v128.xor (i8x16.swizzle (local.get $l2a) (local.get $vl)) (i8x16.swizzle (local.get $h2a) (local.get $vh))) (v128.xor (i8x16.swizzle (local.get $l2b) (local.get $wl)) (i8x16.swizzle (local.get $h2b) (local.get $wh)))))
      (if (i32.eqz (local.get $first))
        (then
          (local.set $acc1 (v128.xor (local.get $acc1) (v128.load (local.get $d1))))
          (local.set $acc2 (v128.xor (local.get $acc2) (v128.load (local.get $d2))))))
      (v128.store (local.get $d1) (local.get $acc1))
      (v128.store (local.get $d2) (local.get $acc2))
      (local.set $v (v128.load offset=16 (local.get $a)))
      (local.set $w (v128.load offset=16 (local.get $b)))
      (local.set $vl (v128.and (local.get $v) (local.get $mask)))
      (local.set $vh (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))
      (local.set $wl (v128.and (local.get $w) (local.get $mask)))
      (local.set $wh (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $mask)))
      (local.set $acc1 (v128.xor (v128.xor (i8x16.swizzle (local.get $l1a) (local.get $vl)) (i8x16.swizzle (local.get $h1a) (local.get $vh))) (v128.xor (i8x16.swizzle (local.get $l1b) (local.get $wl)) (i8x16.swizzle (local.get $h1b) (local.get $wh)))))
      (local.set $acc2 (v128.xor (v128.xor (i8x16.swizzle (local.get $l2a) (local.get $vl)) (i8x16.swizzle (local.get $h2a) (local.get $vh))) (v128.xor (i8x16.swizzle (local.get $l2b) (local.get $wl)) (i8x16.swizzle (local.get $h2b) (local.get $wh)))))
      (if (i32.eqz (local.get $first))
        (then
          (local.set $acc1 (v128.xor (local.get $acc1) (v128.load offset=16 (local.get $d1))))
          (local.set $acc2 (v128.xor (local.get $acc2) (v128.load offset=16 (local.get $d2))))))
      (v128.store offset=16 (local.get $d1) (local.get $acc1))
      (v128.store offset=16 (local.get $d2) (local.get $acc2))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (local.set $d1 (i32.add (local.get $d1) (i32.const 32)))
      (local.set $d2 (i32.add (local.get $d2) (i32.const 32)))
      (br_if $turn (i32.lt_u (local.get $d1) (local.get $end)))))

  (func (export "mul_rows")
    (param $tab i32) (param $in i32) (param $out i32) (param $rows i32) (param $cols i32)
    (param $stride i32) (param $len i32)
    (local $i i32) (local $j i32) (local $dst i32) (local $t i32) (local $rowTab i32) (local $src i32)
    (local.set $rowTab (i32.shl (local.get $cols) (i32.const 5)))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $dst (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $stride))))
        (local.set $t (i32.add (local.get $tab) (i32.mul (local.get $i) (local.get $rowTab))))
        (local.set $j (i32.const 0))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $rows))
          (then
            ;; rows i and i + 1 together, inputs two at a time
            (block $pairs_done
              (loop $pair
                (br_if $pairs_done (i32.ge_u (i32.add (local.get $j) (i32.const 1)) (local.get $cols)))
                (local.set $src (i32.add (local.get $in) (i32.mul (local.get $j) (local.get $stride))))
                (call $pass22
                  (local.get $src) (i32.add (local.get $src) (local.get $stride))
                  (local.get $dst) (i32.add (local.get $dst) (local.get $stride))
                  (local.get $t) (i32.add (local.get $t) (local.get $rowTab))
                  (local.get $len) (i32.eqz (local.get $j)))
                (local.set $t (i32.add (local.get $t) (i32.const 64)))
                (local.set $j (i32.add (local.get $j) (i32.const 2)))
                (br $pair)))
            ;; an odd last input goes to each of the two rows
            (if (i32.lt_u (local.get $j) (local.get $cols))
              (then
                (local.set $src (i32.add (local.get $in) (i32.mul (local.get $j) (local.get $stride))))
                (call $pass1 (local.get $src) (local.get $dst) (local.get $t) (local.get $len) (i32.eqz (local.get $j)))
                (call $pass1 (local.get $src) (i32.add (local.get $dst) (local.get $stride))
                  (i32.add (local.get $t) (local.get $rowTab)) (local.get $len) (i32.eqz (local.get $j)))))
            (local.set $i (i32.add (local.get $i) (i32.const 2))))
          (else
            ;; a last odd row, inputs two at a time
            (block $cols_done
              (loop $col
                (br_if $cols_done (i32.ge_u (local.get $j) (local.get $cols)))
                (local.set $src (i32.add (local.get $in) (i32.mul (local.get $j) (local.get $stride))))
                (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $cols))
                  (then
                    (call $pass2 (local.get $src) (i32.add (local.get $src) (local.get $stride))
                      (local.get $dst) (local.get $t) (local.get $len) (i32.eqz (local.get $j)))
                    (local.set $t (i32.add (local.get $t) (i32.const 64)))
                    (local.set $j (i32.add (local.get $j) (i32.const 2))))
                  (else
                    (call $pass1 (local.get $src) (local.get $dst) (local.get $t) (local.get $len) (i32.eqz (local.get $j)))
                    (local.set $t (i32.add (local.get $t) (i32.const 32)))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))))
                (br $col)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))))
        (br $row))))
)
