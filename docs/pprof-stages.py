#!/usr/bin/env python3
# Splits a CPU profile of `anpr bench e2e --cpuprofile F` by pipeline stage (docs/PERFORMANCE.md):
#   go tool pprof -traces bin/anpr F > traces.txt && python3 docs/pprof-stages.py traces.txt
# Each sample goes to the first rule whose regexp matches its stack, so nothing counts twice.
import re,sys
txt=open(sys.argv[1]).read()
blocks=txt.split('-----------+-------------------------------------------------------')
rules=[ # first match wins, checked against the whole stack
 ('decode (plate.Decode, CheckTime)', r'plate\.Decode|plate\.CheckTime|ingest\..*decode'),
 ('match (MatchBatch, suppression)', r'matcher\.'),
 ('pairing (sectioncontrol)', r'sectioncontrol\.'),
 ('violation evidence lookup (store read)', r'engine\.\(\*Engine\)\.evidence'),
 ('store write (Badger txn, WAL, memtable, fsync)', r'store\.\(\*Store\)\.Write|badger.*(doWrites|writeRequests|writeToLSM|vlog|valueLog)'),
 ('store compaction and flush (Badger)', r'badger'),
 ('produce hits/violations (kafka-go writer)', r'kafka-go\.\(\*Writer\)|kafka-go\.\(\*partitionWriter\)|kafka-go\.\(\*writeBatch\)|kclient|engine\..*publish'),
 ('offset commit', r'CommitMessages|commitOffsets|commitLoop|kafka-go\.\(\*Generation\)\.CommitOffsets'),
 ('fetch reads (kafka-go reader, decompress)', r'kafka-go\.\(\*reader\)|kafka-go\.\(\*Reader\)|kafka-go\.\(\*Batch\)|lz4'),
 ('kafka-go connections (read/write loops)', r'kafka-go'),
 ('embedded broker (kfake, franz-go)', r'kfake|franz-go|twmb'),
 ('engine/ingest other', r'engine\.|ingest\.'),
 ('GC and runtime', r'runtime\.'),
]
tot={};alls=0.0
for b in blocks:
    m=re.search(r'^\s*([0-9.]+)(m?s)\s',b,re.M)
    if not m: continue
    v=float(m.group(1))*(0.001 if m.group(2)=='ms' else 1)
    alls+=v
    for name,rx in rules:
        if re.search(rx,b):
            tot[name]=tot.get(name,0)+v;break
    else:
        tot['other']=tot.get('other',0)+v
for name,_ in rules+[('other','')]:
    if name in tot: print(f'{name:50s} {tot[name]:6.2f} s {100*tot[name]/alls:5.1f} %')
print('total',round(alls,2))
