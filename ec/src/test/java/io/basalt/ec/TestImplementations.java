package io.basalt.ec;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;

/** The implementations this machine can run: always Java, ISA-L when libisal.so.2 loads. */
final class TestImplementations {
    private TestImplementations() {}

    static List<ErasureCodecs.Implementation> available() {
        List<ErasureCodecs.Implementation> implementations = new ArrayList<>();
        implementations.add(ErasureCodecs.Implementation.JAVA_VECTOR);
        if (ErasureCodecs.isalAvailable()) {
            implementations.add(ErasureCodecs.Implementation.ISAL_NATIVE);
        }
        return implementations;
    }

    static String skipMessage() {
        return "ISA-L not loadable (" + ErasureCodecs.isalUnavailableReason()
                + "): native-vs-Java equality not checked; install libisal2 to run it";
    }

    /** jqwik hook: skip a property that compares against ISA-L when the library is absent. */
    static final class RequiresIsal implements SkipExecutionHook {
        @Override
        public SkipResult shouldBeSkipped(LifecycleContext context) {
            return ErasureCodecs.isalAvailable()
                    ? SkipResult.doNotSkip()
                    : SkipResult.skip(skipMessage());
        }
    }
}
