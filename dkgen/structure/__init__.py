"""The arithmetic of the compressed structures, in numpy (no torch): Kronecker factor
shapes (`factors`), the nearest Kronecker product and magnitude selection (`nkp`), and
fitting IR weights to a structure after training (`fit`). `dkgen.nn` trains on top of it;
`dkgen compress` uses it on ONNX files without torch."""
