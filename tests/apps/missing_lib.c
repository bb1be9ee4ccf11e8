/* The library needs_lib is linked against. */
int kuiga_missing_function(void) {
  return 0;
}
