package io.basalt.client.object;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class InlineBodyTest {
    private static ByteBuf bytes(int... values) {
        ByteBuf buffer = Unpooled.buffer(values.length);
        for (int value : values) {
            buffer.writeByte(value);
        }
        return buffer;
    }

    @Test
    void gathersTheDeclaredBytesAndReleasesEveryBuffer() {
        InlineBody body = new InlineBody(5);
        ByteBuf first = bytes(1, 2);
        ByteBuf second = bytes(3, 4, 5);
        body.write(first).join();
        body.write(second).join();
        assertThat(first.refCnt()).isZero();
        assertThat(second.refCnt()).isZero();
        BodyWriter.Written written = body.finish().join();
        assertThat(written.isInline()).isTrue();
        assertThat(written.length()).isEqualTo(5);
        assertThat(written.extents()).isEmpty();
        assertThat(written.inlineData()).containsExactly(1, 2, 3, 4, 5);
    }

    @Test
    void moreOrFewerBytesThanDeclaredAreRefused() {
        InlineBody longer = new InlineBody(2);
        ByteBuf tooMuch = bytes(1, 2, 3);
        assertThatThrownBy(() -> longer.write(tooMuch).join()).isInstanceOf(CompletionException.class)
                .hasMessageContaining("more than the 2 bytes declared");
        assertThat(tooMuch.refCnt()).isZero();
        InlineBody shorter = new InlineBody(2);
        shorter.write(bytes(1)).join();
        assertThatThrownBy(() -> shorter.finish().join()).hasMessageContaining("1 bytes, 2 declared");
        shorter.abort();
        assertThatThrownBy(() -> shorter.write(bytes(1)).join()).hasMessageContaining("after abort");
    }
}
