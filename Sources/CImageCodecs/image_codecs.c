int image_codecs_version(void) { return 1; }
