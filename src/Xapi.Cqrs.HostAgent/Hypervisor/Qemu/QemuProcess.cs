using System.Diagnostics;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>
/// The QEMU processes of a qemu host: spawned with <c>-daemonize</c> (so a domain outlives the agent, as a Xen domain
/// outlives the toolstack), found again by pid and by the QMP socket on its command line, killed by pid.
/// </summary>
public static class QemuProcess
{
    /// <summary>Runs a tool to its end (bounded): its exit code and what it wrote on standard error.</summary>
    public static async Task<(int ExitCode, string Error)> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken ct)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new HypervisorException(ErrorCodes.InternalError, $"{program} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new HypervisorException(ErrorCodes.InternalError, $"{program} cannot be run: {e.Message} (is QEMU installed? apt-get install qemu-system-x86 qemu-utils)");
        }

        using (process)
        {
            var error = process.StandardError.ReadToEndAsync(ct);
            var output = process.StandardOutput.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct).WaitAsync(timeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw new HypervisorException(ErrorCodes.InternalError, $"{program} did not finish within {timeout.TotalSeconds:0} s");
            }

            await output.ConfigureAwait(false);
            return (process.ExitCode, (await error.ConfigureAwait(false)).Trim());
        }
    }

    /// <summary>The pid a pidfile names, or 0.</summary>
    public static int ReadPidFile(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>True when <paramref name="pid"/> is alive and is the QEMU whose command line names <paramref name="qmpSocket"/> (not a reused pid).</summary>
    public static bool IsOurs(int pid, string qmpSocket)
    {
        if (pid <= 0)
        {
            return false;
        }

        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            return cmdline.Contains(qmpSocket, StringComparison.Ordinal) && !IsZombie(pid);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static bool IsZombie(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var end = stat.LastIndexOf(')');
        return end > 0 && end + 2 < stat.Length && stat[end + 2] == 'Z';
    }

    /// <summary>SIGKILL to the process, if it is still the QEMU of that socket.</summary>
    public static void Kill(int pid, string qmpSocket)
    {
        if (!IsOurs(pid, qmpSocket))
        {
            return;
        }

        try
        {
            using var p = Process.GetProcessById(pid);
            p.Kill();
        }
        catch (ArgumentException)
        {
            // already gone
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    /// <summary>
    /// Waits until the process is gone (a process not our child cannot be waited for: /proc is looked at every 20 ms),
    /// SIGKILLing it when <paramref name="grace"/> passes first; true when it went by itself.
    /// </summary>
    public static async Task<bool> WaitGoneAsync(int pid, string qmpSocket, TimeSpan grace)
    {
        var until = DateTimeOffset.UtcNow + grace;
        while (IsOurs(pid, qmpSocket))
        {
            if (DateTimeOffset.UtcNow > until)
            {
                Kill(pid, qmpSocket);
                for (var i = 0; i < 250 && IsOurs(pid, qmpSocket); i++)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System).ConfigureAwait(false);
                }

                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System).ConfigureAwait(false);
        }

        return true;
    }
}
