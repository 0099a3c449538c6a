/* Placeholder: the libjpeg/libpng shims are written in a later commit. */
int image_codecs_version(void);
