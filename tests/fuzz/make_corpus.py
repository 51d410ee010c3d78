"""Write the seed corpus of the fuzz harnesses to tests/fuzz/corpus/NAME/ (small valid inputs
and a few near-misses; run once, the files are committed)."""
import gzip
import io
import os
import pickle
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def put(name, fname, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def main():
    import dlcore
    from dlcore.two_layer_net import TwoLayerNet
    from dlcore.multi_layer_net_extend import MultiLayerNetExtend
    from dlcore.optimizer import Adam

    np.random.seed(0)
    params = {"W1": np.random.rand(3, 2), "b1": np.zeros(2, np.float32),
              "W2": np.asfortranarray(np.random.rand(2, 2))}
    for proto in (0, 2, 4, 5):
        put("load_params", f"params-p{proto}.pkl", pickle.dumps(params, protocol=proto))
    put("load_params", "nested.pkl", pickle.dumps({"k": ((1, [2.0, b"x"]), {"a": 1j})}))

    tmp = tempfile.mkdtemp()
    net = MultiLayerNetExtend(4, [3], 2, use_batchnorm=True, use_dropout=True)
    net.gradient(np.random.rand(5, 4), np.array([0, 1, 0, 1, 1]))
    for name, obj in (("twolayer", TwoLayerNet(3, 2, 2)), ("extend", net), ("adam", Adam())):
        path = os.path.join(tmp, name + ".npz")
        dlcore.save(obj, path)
        with open(path, "rb") as f:
            put("dlcore_load", name + ".npz", f.read())

    img, lab = np.arange(96, dtype=np.uint8).reshape(6, 4, 4), np.arange(6, dtype=np.uint8)
    for a, tag in ((img, "img"), (lab, "lab")):
        raw = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
        put("idx", f"{tag}-raw", b"\x02" + raw)
        put("idx", f"{tag}-gz", b"\x03" + gzip.compress(raw))
        put("idx", f"{tag}-any", b"\x00" + raw)

    put("mnist_cache", "small.npz", npz_bytes(
        train_img=img, train_label=lab, test_img=img[:3], test_label=lab[:3]))
    put("mnist_cache", "missing.npz", npz_bytes(train_img=img, train_label=lab))

    x = np.random.rand(6, 5).astype(np.float32)
    put("cli_data", "data.npz", npz_bytes(x_train=x, t_train=np.arange(6) % 3,
                                          x_test=x[:2], t_test=np.array([0, 1])))
    put("cli_data", "data-u8.npz", npz_bytes(x_train=(x * 255).astype(np.uint8),
                                             t_train=np.arange(6, dtype=np.uint8) % 3,
                                             x_test=np.zeros((1, 5), np.uint8),
                                             t_test=np.zeros(1, np.int32)))

    rng = np.random.default_rng(0)
    for i in range(8):
        put("layers", f"seed{i}", bytes([i]) + rng.integers(0, 256, 200, np.uint8).tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
