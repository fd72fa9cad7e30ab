package io.basalt.cli;

import io.basalt.meta.model.s3.S3User;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code basalt s3 user create|list|delete}: who may sign S3 requests. */
@Command(name = "user", mixinStandardHelpOptions = true,
        description = "Manage S3 users: each has an access key and a secret key to sign requests with.",
        subcommands = {S3UserCommand.Create.class, S3UserCommand.ListUsers.class, S3UserCommand.Delete.class})
final class S3UserCommand implements Runnable {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private static final String SECRET_ALPHABET =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** A new access key: "BK" and 18 random base-32 characters (AWS keys are 20 characters too). */
    static String newAccessKey() {
        return "BK" + random(KEY_ALPHABET, 18);
    }

    /** A new secret: 40 random characters (240 bits). */
    static String newSecret() {
        return random(SECRET_ALPHABET, 40);
    }

    private static String random(String alphabet, int length) {
        StringBuilder out = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            out.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        }
        return out.toString();
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create an S3 user and print its keys (the secret is shown only this once).",
                    "Example: basalt s3 user create alice"})
    static final class Create implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME", description = "User name (letters, digits, . _ -).")
        String name;

        @Override
        public void run() {
            String accessKey = newAccessKey();
            String secret = newSecret();
            S3User user = options.call(c -> c.createS3User(name, accessKey, secret, System.currentTimeMillis()));
            if (options.json) {
                System.out.println(TextTable.object("name", user.name(), "accessKey", user.accessKey(),
                        "secretKey", user.secret()));
                return;
            }
            System.out.println("user " + user.name());
            System.out.println("AWS_ACCESS_KEY_ID=" + user.accessKey());
            System.out.println("AWS_SECRET_ACCESS_KEY=" + user.secret());
            System.out.println("the secret is shown only this once; keep it (to replace it: basalt s3 user"
                    + " delete " + user.name() + ", then create)");
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List S3 users (never their secrets).")
    static final class ListUsers implements Runnable {
        @Mixin
        MetaOptions options;

        @Override
        public void run() {
            List<S3User> users = options.call(c -> c.listS3Users());
            if (options.json) {
                List<String> items = new ArrayList<>();
                for (S3User user : users) {
                    items.add(TextTable.object("name", user.name(), "accessKey", user.accessKey(),
                            "created", Instant.ofEpochMilli(user.createdMillis()).toString()));
                }
                System.out.println(TextTable.array(items).json());
                return;
            }
            TextTable table = new TextTable("NAME", "ACCESS KEY", "CREATED");
            for (S3User user : users) {
                table.row(user.name(), user.accessKey(), Instant.ofEpochMilli(user.createdMillis()).toString());
            }
            table.print(System.out);
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = "Delete an S3 user: requests signed with its keys are refused from then on.")
    static final class Delete implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Override
        public void run() {
            options.call(c -> {
                c.deleteS3User(name);
                return null;
            });
            System.out.println("deleted S3 user " + name);
        }
    }
}
