/* Command dispatch (placeholder until the commands land). */
#include <stdio.h>
int main(void)
{
    puts("tributary " TB_VERSION);
    return 0;
}
