;; The FastCDC cut-point search as a WebAssembly kernel: the same search as kernel.ts, byte for byte
;; (test/unit/chunking/kernels.test.ts checks both give the same boundaries). Built at run time from
;; this text by wasm.ts with wabt.
;;
;; Memory: the gear table (256 x i32, little-endian) at [0, 1024), the bytes to scan from 1024 on.
;; scan(p, normal, q, h, maskS, maskL) hashes the bytes at addresses [p, q) with h = (h << 1) + gear[b];
;; bytes at addresses below `normal` test MaskS, the others MaskL. It returns the address just past the
;; first byte whose hash has (h & mask) == 0, or 0 when [p, q) holds none; the hash is left in global $h.
;; The caller keeps 1024 <= p, q < 2^31, so 0 never means a cut and signed compares are safe.
;;
;; Each part runs four bytes per loop turn (one test per byte still), then finishes byte by byte.
(module
  (memory (export "memory") 1)
  (global $h (export "h") (mut i32) (i32.const 0))

  (func (export "scan")
    (param $p i32) (param $normal i32) (param $q i32) (param $h i32) (param $maskS i32) (param $maskL i32)
    (result i32)
    (local $e i32)
    (local $e4 i32)

    ;; Part one: [p, min(q, normal)) with MaskS.
    (local.set $e (select (local.get $q) (local.get $normal) (i32.lt_u (local.get $q) (local.get $normal))))
    (local.set $e4 (i32.sub (local.get $e) (i32.const 3)))
    (block $s4_done
      (br_if $s4_done (i32.ge_s (local.get $p) (local.get $e4)))
      (loop $s4
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=0 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 1)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 2)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 3)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=3 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 4)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $s4 (i32.lt_s (local.get $p) (local.get $e4)))))
    (block $s_done
      (br_if $s_done (i32.ge_s (local.get $p) (local.get $e)))
      (loop $s
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u (local.get $p)) (i32.const 2)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (global.set $h (local.get $h)) (return (local.get $p))))
        (br_if $s (i32.lt_s (local.get $p) (local.get $e)))))

    ;; Part two: [p, q) with MaskL.
    (local.set $e4 (i32.sub (local.get $q) (i32.const 3)))
    (block $l4_done
      (br_if $l4_done (i32.ge_s (local.get $p) (local.get $e4)))
      (loop $l4
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=0 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 1)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 2)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 3)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=3 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $p) (i32.const 4)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $l4 (i32.lt_s (local.get $p) (local.get $e4)))))
    (block $l_done
      (br_if $l_done (i32.ge_s (local.get $p) (local.get $q)))
      (loop $l
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u (local.get $p)) (i32.const 2)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (global.set $h (local.get $h)) (return (local.get $p))))
        (br_if $l (i32.lt_s (local.get $p) (local.get $q)))))

    (global.set $h (local.get $h))
    (i32.const 0)))
