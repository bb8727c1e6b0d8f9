// heed: the library's public entry point.
export {};
