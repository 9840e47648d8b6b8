//! The layer over real TCP (hyper server, raw HTTP/1.1 client).
