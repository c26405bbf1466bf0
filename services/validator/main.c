#include "validator.h"

int main(int argc, char **argv)
{
    return ph_service_main(&ph_validator_def, argc, argv);
}
