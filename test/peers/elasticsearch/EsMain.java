import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.node.MockNode;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.FileReader;
import java.util.List;
import java.util.Properties;

/** Starts one real Elasticsearch node (the test framework's MockNode with netty4) from a properties file of node settings. */
public class EsMain {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    try (FileReader r = new FileReader(args[0])) {
      p.load(r);
    }
    Settings.Builder s = Settings.builder()
        .put("cluster.name", "kubetrail-test").put("node.name", "n1")
        .put("network.host", "127.0.0.1").put("discovery.type", "single-node")
        .put("http.type", "netty4").put("transport.type", "netty4");
    for (String k : p.stringPropertyNames()) {
      s.put(k, p.getProperty(k));
    }
    MockNode n = new MockNode(s.build(), List.of(Netty4Plugin.class), true, () -> {});
    n.start();
    System.out.println("STARTED");
    Thread.currentThread().join();
  }
}
