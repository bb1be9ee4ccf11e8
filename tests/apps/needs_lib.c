/* Calls into libkuigamissing.so, which the test does not ship next to it: the dynamic loader
 * fails before main. */
int kuiga_missing_function(void);
int main(void) {
  return kuiga_missing_function();
}
