#include "ingestor.h"

int main(int argc, char **argv)
{
    return ph_service_main(&ph_ingestor_def, argc, argv);
}
