package io.basalt.cli;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaPeers;
import io.basalt.meta.model.s3.S3User;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The S3 user {@code basalt up} creates on a cluster's first start, so that the printed {@code aws}
 * lines work at once: user "admin", its keys in {@code DIR/s3-credentials} (the AWS shared-credentials
 * format, profile "basalt", readable by its owner only).
 */
final class S3Credentials {
    static final String USER = "admin";
    static final String PROFILE = "basalt";

    private S3Credentials() {}

    /** Creates the user and the file unless the file is there already. */
    static void ensure(UpLayout layout, String peers, io.basalt.common.tls.TlsIdentity admin) throws IOException {
        Path file = layout.s3CredentialsFile();
        if (Files.exists(file)) {
            return;
        }
        S3User user;
        try (MetaClient client = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, MetaPeers.parse(peers),
                Duration.ofSeconds(5), 3, admin)) {
            user = client.createS3User(USER, S3UserCommand.newAccessKey(), S3UserCommand.newSecret(),
                    System.currentTimeMillis());
        } catch (MetaException e) {
            if (e.error() == MetaError.ALREADY_EXISTS) {
                System.out.println("basalt up: S3 user " + USER + " exists but " + file + " is gone (its secret"
                        + " cannot be shown again); make another: ./basalt s3 user create NAME");
                return;
            }
            throw new UserError("creating the S3 user " + USER + ": " + e.getMessage(), e);
        }
        String text = "# S3 keys of user " + USER + " of the cluster in " + layout.dataDir() + "\n"
                + "[" + PROFILE + "]\n"
                + "aws_access_key_id = " + user.accessKey() + "\n"
                + "aws_secret_access_key = " + user.secret() + "\n";
        io.basalt.common.io.DurableFiles.replaceAtomically(file, text, "rw-------");
    }
}
