#include "greet.h"
#include <stdio.h>

void greet(const char *who) { printf("Hello, %s!\n", who); }
