#!/bin/bash
# Throwaway two-node Slurm 22.05 on loopback to capture real outputs for ds01's parsers.
set -u
OUTD=$1
W=$(mktemp -d /tmp/ds01-slurmcap.XXXXXX); chmod 755 $W
echo "W=$W"
PIDS=()
cleanup() {
  for c in /sys/fs/cgroup/freezer/slurm_cap1 /sys/fs/cgroup/freezer/slurm_cap2; do
    [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} \; | xargs -r kill -9 2>/dev/null; done
  for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null; done
  for c in /sys/fs/cgroup/*/slurm_cap1 /sys/fs/cgroup/*/slurm_cap2; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p $W/etc $W/state $W/log $W/dev/nvidia-caps $W/munge $W/spool
dd if=/dev/urandom of=$W/munge/munge.key bs=1024 count=1 status=none; chmod 400 $W/munge/munge.key
munged --force --socket $W/munge/munge.sock --key-file $W/munge/munge.key --pid-file $W/munge/munged.pid --seed-file $W/munge/seed --log-file $W/munge/munged.log
sleep 0.3; PIDS+=($(cat $W/munge/munged.pid))
chmod 755 $W/munge
mariadb-install-db --datadir=$W/mysql --user=root --auth-root-authentication-method=socket >$W/log/mdb-install.log 2>&1
mariadbd --no-defaults --datadir=$W/mysql --socket=$W/mysql.sock --port=26306 --bind-address=127.0.0.1 --user=root --pid-file=$W/mysql.pid --skip-log-bin >$W/log/mariadb.log 2>&1 &
PIDS+=($!)
for i in $(seq 50); do [ -S $W/mysql.sock ] && break; sleep 0.2; done
mariadb --socket=$W/mysql.sock -e "create user 'slurm'@'127.0.0.1' identified by 'capcap'; grant all on slurm_acct_db.* to 'slurm'@'127.0.0.1'"
for n in 0 1 2 3; do mknod -m 666 $W/dev/nvidia$n c 195 $n; done
for n in 1 2; do mknod -m 444 $W/dev/nvidia-caps/nvidia-cap$n c 237 $n; done
cat > $W/etc/slurmdbd.conf <<C
AuthType=auth/munge
AuthInfo=socket=$W/munge/munge.sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=26819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=26306
StorageUser=slurm
StoragePass=capcap
PidFile=$W/state/slurmdbd.pid
LogFile=$W/log/slurmdbd.log
C
chmod 600 $W/etc/slurmdbd.conf
cat > $W/etc/slurm.conf <<C
ClusterName=cap
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=26817
SlurmdPort=26818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge/munge.sock
StateSaveLocation=$W/state/ctld
SlurmdSpoolDir=$W/state/d-%n
SlurmctldPidFile=$W/state/slurmctld.pid
SlurmdPidFile=$W/state/slurmd-%n.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd-%n.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/cgroup
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=26819
AccountingStoragePass=$W/munge/munge.sock
AccountingStorageTRES=gres/gpu,gres/gpu:a100,gres/gpu:1g.5gb
JobCompType=jobcomp/none
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=cap1 NodeAddr=127.0.0.1 Port=26821 CPUs=16 RealMemory=8000 Gres=gpu:a100:2,gpu:1g.5gb:2
NodeName=cap2 NodeAddr=127.0.0.1 Port=26822 CPUs=16 RealMemory=8000 Gres=gpu:a100:2
PartitionName=gpu Nodes=cap1,cap2 Default=YES MaxTime=7-00:00:00 DefaultTime=04:00:00 State=UP
C
cat > $W/etc/gres.conf <<C
AutoDetect=off
NodeName=cap1 Name=gpu Type=a100 File=$W/dev/nvidia[0-1]
NodeName=cap1 Name=gpu Type=1g.5gb MultipleFiles=$W/dev/nvidia2,$W/dev/nvidia-caps/nvidia-cap1
NodeName=cap1 Name=gpu Type=1g.5gb MultipleFiles=$W/dev/nvidia3,$W/dev/nvidia-caps/nvidia-cap2
NodeName=cap2 Name=gpu Type=a100 File=$W/dev/nvidia[0-1]
C
cat > $W/etc/cgroup.conf <<C
CgroupPlugin=cgroup/v1
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainDevices=yes
C
export SLURM_CONF=$W/etc/slurm.conf
slurmdbd >$W/log/slurmdbd.out 2>&1; sleep 1; PIDS+=($(cat $W/state/slurmdbd.pid 2>/dev/null))
for i in $(seq 30); do sacctmgr -i add cluster cap >/dev/null 2>&1 && break; sleep 0.3; done
sacctmgr -i add account lab >/dev/null
sacctmgr -i add user root Account=lab >/dev/null
sacctmgr -i add user ds01t_alice Account=lab >/dev/null
slurmctld -i; sleep 0.5; PIDS+=($(cat $W/state/slurmctld.pid))
slurmd -N cap1; slurmd -N cap2; sleep 0.5
PIDS+=($(cat $W/state/slurmd-cap1.pid) $(cat $W/state/slurmd-cap2.pid))
for i in $(seq 50); do scontrol ping >/dev/null 2>&1 && sinfo -h -o %T | grep -qv 'unk\|down' && break; sleep 0.2; done
sleep 1
sinfo
cat > $W/job.sh <<'J'
#!/bin/sh
cat /proc/self/cgroup > /tmp/ds01cap-cgroup-$SLURM_JOB_ID.txt
exec sleep 600
J
chmod 755 $W/job.sh
A="setpriv --reuid ds01t_alice --regid ds01t_alice --init-groups"
cd /tmp
j1=$($A sbatch --parsable --chdir=/tmp -o /dev/null -J box-a100 -w cap1 --gres=gpu:a100:1 -c1 --mem=500 $W/job.sh); echo "j1=$j1"
j2=$($A sbatch --parsable --chdir=/tmp -o /dev/null -J box-mig -w cap1 --gres=gpu:1g.5gb:2 -c2 --mem=500 $W/job.sh); echo "j2=$j2"
j3=$(sbatch --parsable --chdir=/tmp -o /dev/null -J root-2 -w cap2 --gres=gpu:a100:2 -c1 --mem=500 $W/job.sh); echo "j3=$j3"
j4=$($A sbatch --parsable --chdir=/tmp -o /dev/null -J pend --gres=gpu:a100:2 -c1 --mem=500 $W/job.sh); echo "j4=$j4"
j5=$($A sbatch --parsable --chdir=/tmp -o /dev/null -J short -w cap1 --gres=gpu:a100:1 -c1 --mem=100 --wrap true); echo "j5=$j5"
$A sbatch --parsable --chdir=/tmp -o /dev/null --gres=gpu:h100:1 --wrap true > $OUTD/sbatch-bad-gres.txt 2>&1; echo "rc=$?" >> $OUTD/sbatch-bad-gres.txt
for i in $(seq 50); do [ "$(squeue -h -j $j1,$j2,$j3 -t R | wc -l)" = 3 ] && break; sleep 0.2; done
sleep 2
scontrol show job -d $j1 > $OUTD/scontrol-show-job-d-a100.txt 2>&1
scontrol show job -d $j2 > $OUTD/scontrol-show-job-d-mig.txt 2>&1
scontrol show job -d $j3 > $OUTD/scontrol-show-job-d-a100x2.txt 2>&1
scontrol show job -d $j4 > $OUTD/scontrol-show-job-d-pending.txt 2>&1
scontrol show job -d $j5 > $OUTD/scontrol-show-job-d-completed.txt 2>&1
scontrol --json show job $j1 > $OUTD/scontrol-json-show-job.json 2>&1; echo "rc=$?" > $OUTD/scontrol-json-show-job.rc
scontrol show job -d 999999 > $OUTD/scontrol-show-job-invalid.txt 2>&1; echo "rc=$?" >> $OUTD/scontrol-show-job-invalid.txt
squeue --json > $OUTD/squeue.json 2>&1
sinfo --json > $OUTD/sinfo.json 2>&1
scontrol show node -d > $OUTD/scontrol-show-node-d.txt 2>&1
scontrol --json show node > $OUTD/scontrol-json-show-node.json 2>&1
cp /tmp/ds01cap-cgroup-$j1.txt $OUTD/proc-cgroup-v1-job-a100.txt
cp /tmp/ds01cap-cgroup-$j2.txt $OUTD/proc-cgroup-v1-job-mig.txt
cp /tmp/ds01cap-cgroup-$j3.txt $OUTD/proc-cgroup-v1-job-root.txt
scancel $j1 $j4
$A scancel $j3 > $OUTD/scancel-other-user.txt 2>&1; echo "rc=$?" >> $OUTD/scancel-other-user.txt
scancel 999999 > $OUTD/scancel-invalid.txt 2>&1; echo "rc=$?" >> $OUTD/scancel-invalid.txt
sleep 2
sacct --json -a -X -S now-1hour > $OUTD/sacct.json 2>&1
sacct -a -X -P -o jobid,user,uid,jobname,state,nodelist,elapsedraw,start,end,alloctres -S now-1hour > $OUTD/sacct-P.txt 2>&1
kill $(cat $W/state/slurmctld.pid); sleep 1.5
squeue --json > $OUTD/squeue-unreachable.txt 2>&1; echo "rc=$?" >> $OUTD/squeue-unreachable.txt
scontrol show job -d $j2 > $OUTD/scontrol-show-job-unreachable.txt 2>&1; echo "rc=$?" >> $OUTD/scontrol-show-job-unreachable.txt
sinfo --json > $OUTD/sinfo-unreachable.txt 2>&1; echo "rc=$?" >> $OUTD/sinfo-unreachable.txt
$A sbatch --parsable --chdir=/tmp -o /dev/null --wrap true > $OUTD/sbatch-unreachable.txt 2>&1; echo "rc=$?" >> $OUTD/sbatch-unreachable.txt
scancel $j2 > $OUTD/scancel-unreachable.txt 2>&1; echo "rc=$?" >> $OUTD/scancel-unreachable.txt
kill $(cat $W/state/slurmdbd.pid); sleep 1
sacct --json -a -X > $OUTD/sacct-unreachable.txt 2>&1; echo "rc=$?" >> $OUTD/sacct-unreachable.txt
cp -r $W/log $OUTD/logs
echo "job ids: $j1 $j2 $j3 $j4 $j5" > $OUTD/jobs.txt
rm -f /tmp/ds01cap-cgroup-*.txt
