using System.Diagnostics;

namespace Xapi.Cqrs.Testing.Qemu;

/// <summary>
/// The guest the qemu backend boots directly (<c>ops/guest-image</c>): its kernel and initramfs, from
/// <c>XAPI_GUEST_KERNEL</c> / <c>XAPI_GUEST_INITRD</c> when set (ops/test builds the image and exports them), otherwise
/// built by running <c>ops/guest-image</c> once per test run (it is idempotent and cached under <c>.data/guest</c>).
/// A guest that cannot be built fails the test with the script's output: never a skip.
/// </summary>
public static class GuestImage
{
    /// <summary>The line the guest's /init prints on its serial console once it has booted, followed by its kernel release.</summary>
    public const string UpMarker = "XAPI-GUEST-UP ";

    /// <summary>The line it prints once acpid listens (the ACPI power button powers it off from then on).</summary>
    public const string ReadyMarker = "XAPI-GUEST-READY";

    /// <summary>On the kernel command line: the guest powers itself off right after <see cref="UpMarker"/>.</summary>
    public const string PoweroffNow = "xapi.poweroff=now";

    private static readonly Lazy<Task<(string Kernel, string Initrd)>> Image = new(BuildAsync);

    /// <summary>The kernel and initrd paths (absolute).</summary>
    public static Task<(string Kernel, string Initrd)> GetAsync() => Image.Value;

    private static async Task<(string Kernel, string Initrd)> BuildAsync()
    {
        var kernel = Environment.GetEnvironmentVariable("XAPI_GUEST_KERNEL");
        var initrd = Environment.GetEnvironmentVariable("XAPI_GUEST_INITRD");
        if (!string.IsNullOrEmpty(kernel) && !string.IsNullOrEmpty(initrd))
        {
            return File.Exists(kernel) && File.Exists(initrd)
                ? (kernel, initrd)
                : throw new InvalidOperationException($"XAPI_GUEST_KERNEL={kernel} or XAPI_GUEST_INITRD={initrd} does not exist: run ops/guest-image");
        }

        var script = Path.Combine(RepoRoot(), "ops", "guest-image");
        var start = new ProcessStartInfo("bash", [script])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot run {script}");
        try
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            await process.WaitForExitAsync(timeout.Token);
            var output = await stdout + await stderr;
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{script} failed (exit {process.ExitCode}):\n{output}");
            }

            string Value(string name) =>
                output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..]
                ?? throw new InvalidOperationException($"{script} printed no {name}=…:\n{output}");
            return (Value("XAPI_GUEST_KERNEL"), Value("XAPI_GUEST_INITRD"));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Xapi.Cqrs.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("the repository root (Xapi.Cqrs.sln) is not above " + AppContext.BaseDirectory);
    }

    /// <summary>The serial console log's text, or "" while it does not exist (QEMU shares it: read without locking it).</summary>
    public static string ReadConsole(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
