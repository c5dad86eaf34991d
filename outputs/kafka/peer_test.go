package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kubetrail/kubetrail/internal/peertest"
)

// broker returns the PLAINTEXT listener of the broker test/peers/kafka
// started (skips without it, fails under CI).
func broker(t *testing.T) string {
	t.Helper()
	return peertest.Require(t, "kafka", "KAFKA_BOOTSTRAP")
}

func topicName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, rand.IntN(1e6))
}

// createTopic creates a topic and waits until every partition has a leader.
func createTopic(t *testing.T, addr, topic string, partitions int, configs ...kafkago.ConfigEntry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &kafkago.Client{Addr: kafkago.TCP(addr), Transport: &kafkago.Transport{}}
	res, err := c.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs,
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	for ctx.Err() == nil {
		md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions {
			ready := true
			for _, p := range md.Topics[0].Partitions {
				ready = ready && p.Error == nil && p.Leader.Host != ""
			}
			if ready {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("topic %s has no leader after a minute", topic)
}

// record is one record read back.
type record struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
}

// readTopic reads every record of every partition of topic, partition by
// partition, in offset order.
func readTopic(ctx context.Context, addr, topic string) ([]record, error) {
	conn, err := kafkago.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, err
	}
	var out []record
	for _, p := range parts {
		recs, err := readPartition(ctx, addr, topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p.ID, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

func readPartition(ctx context.Context, addr, topic string, partition int) ([]record, error) {
	conn, err := kafkago.DialLeader(ctx, "tcp", addr, topic, partition)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return nil, err
	}
	var out []record
	for off := first; off < last; {
		if _, err := conn.Seek(off, kafkago.SeekAbsolute); err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetReadDeadline(dl)
		} else {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		}
		batch := conn.ReadBatch(1, 64<<20)
		n := 0
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			h := map[string]string{}
			for _, hd := range m.Headers {
				h[hd.Key] = string(hd.Value)
			}
			out = append(out, record{Partition: partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h})
			off = m.Offset + 1
			n++
		}
		if err := batch.Close(); err != nil && !errors.Is(err, kafkago.OffsetOutOfRange) && n == 0 {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("no progress at offset %d of [%d, %d)", off, first, last)
		}
	}
	return out, nil
}

func values(recs []record) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Value
	}
	return out
}

// freePort returns a port nothing listens on (for a dead broker address).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
