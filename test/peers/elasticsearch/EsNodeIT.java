import com.carrotsearch.randomizedtesting.RandomizedRunner;
import com.carrotsearch.randomizedtesting.annotations.ThreadLeakScope;
import com.carrotsearch.randomizedtesting.annotations.Timeout;
import com.carrotsearch.randomizedtesting.annotations.TimeoutSuite;
import org.junit.Test;
import org.junit.runner.RunWith;

/** MockNode needs a randomized-testing context: run EsMain inside one "test" that never ends. */
@RunWith(RandomizedRunner.class)
@ThreadLeakScope(ThreadLeakScope.Scope.NONE)
@TimeoutSuite(millis = 864_000_000)
public class EsNodeIT {
  @Test
  @Timeout(millis = 864_000_000)
  public void run() throws Exception {
    EsMain.main(new String[] {System.getProperty("es.settings")});
  }
}
