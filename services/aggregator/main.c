#include "aggregator.h"

int main(int argc, char **argv)
{
    return ph_service_main(&ph_aggregator_def, argc, argv);
}
