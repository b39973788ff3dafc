module interactionhub/bench/loadgen

go 1.26
