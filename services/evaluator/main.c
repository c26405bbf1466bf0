#include "evaluator.h"

int main(int argc, char **argv)
{
    return ph_service_main(&ph_evaluator_def, argc, argv);
}
