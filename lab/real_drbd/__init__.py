"""The real-DRBD mode of the hive lab: the hives as QEMU guests running the DRBD 9 kernel
module the person running the lab built (lab/README.md, "Real DRBD"). Run by hand only; the
docker lab and CI never import it."""
