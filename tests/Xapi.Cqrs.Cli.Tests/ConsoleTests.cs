using Shouldly;
using static Xapi.Cqrs.Cli.Tests.ApiStub;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>vm-console: a VM's serial console log from its host's hypervisor endpoint, printed as the guest wrote it.</summary>
public sealed class ConsoleTests(ApiStub api) : IClassFixture<ApiStub>
{
    private Task<CliRun> Xapi(params string[] args) => Cli.Run([.. args, "--server", api.Url, "--token", AdminToken]);

    [Fact]
    public async Task Vm_console_reads_the_log_on_the_host_the_VM_runs_on_and_prints_it_untouched()
    {
        var run = await Xapi("vm-console", "db01");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/hosts/{HostA}/hypervisor/consoles/{RunningVm}");
        run.Out.ShouldBe(ConsoleLog, "brackets in a guest's output are not markup");
    }

    [Fact]
    public async Task Vm_console_tail_and_host_are_sent_as_given()
    {
        var run = await Xapi("vm-console", RunningVm, "--host", "host-a", "--tail", "14");

        run.ExitCode.ShouldBe(0, run.Error);
        api.Requests.ShouldContain($"GET /api/hosts/{HostA}/hypervisor/consoles/{RunningVm}?tail=14");
        run.Out.ShouldBe("XAPI-GUEST-UP\n");
    }

    [Fact]
    public async Task Vm_console_of_a_halted_VM_without_a_host_is_a_usage_error_that_names_the_option()
    {
        var run = await Xapi("vm-console", "web01");

        run.ExitCode.ShouldBe(2);
        run.Error.ShouldContain("--host");
        api.Requests.ShouldNotContain(r => r.Contains($"/consoles/{HaltedVm}", StringComparison.Ordinal), "the class shares the stub: no other test asks for web01's console without a host");
    }

    [Fact]
    public async Task Vm_console_the_server_refuses_prints_its_code_and_exits_1()
    {
        var run = await Xapi("vm-console", "app01", "--host", "host-a");

        run.ExitCode.ShouldBe(1);
        run.Error.ShouldContain("HANDLE_INVALID");
    }
}
