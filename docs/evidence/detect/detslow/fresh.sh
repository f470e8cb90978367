#!/bin/bash
cd /work/wt/detslow
docs/evidence/detect/fresh_seeds.sh /tmp/base-detslow /tmp/var-detslow family5 runs/fresh 2861 2862 2863:150:1.5 2864:150:1.5 2865:150:1.5 2866:150:1.5
