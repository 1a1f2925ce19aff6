using System.Net;
using Npgsql;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.History;

/// <summary>
/// Retention: a destroyed VM's streams are archived (Marten's stream archiving) and leave the live read models, while its
/// history and as-of still answer from the archived events.
/// </summary>
public sealed class RetentionTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private async Task<long> ScalarAsync(string sql, Guid id)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", server.Schema, StringComparison.Ordinal), connection);
        command.Parameters.AddWithValue("id", id);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_destroyed_vm_is_archived_out_of_the_live_read_models_and_its_history_and_as_of_still_answer()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        await pool.HostAsync();
        var vm = await pool.VmAsync();
        var running = await (await client.PostAsync($"/api/vms/{vm.Id}/start", null, ct)).ShouldBeOkAsync();
        await (await client.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct)).ShouldBeOkAsync();
        var before = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToList();

        (await client.PostAsync($"/api/vms/{vm.Id}/destroy", null, ct)).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await client.GetAsync($"/api/vms/{vm.Id}", ct)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await ScalarAsync("select count(*) from {schema}.mt_doc_vm where id = @id", vm.Id)).ShouldBe(0);
        (await ScalarAsync("select count(*) from {schema}.mt_doc_vbd where id = @id", vm.Vbds[0])).ShouldBe(0);
        (await ScalarAsync("select count(*) from {schema}.mt_streams where id = @id and is_archived", vm.Id)).ShouldBe(1);
        (await ScalarAsync("select count(*) from {schema}.mt_events where stream_id = @id and not is_archived", vm.Id)).ShouldBe(0);

        var after = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().ToList();
        after.Select(e => e.GetProperty("seq").GetInt64()).Take(before.Count).ShouldBe(before, "the whole history before the destroy");
        after.ShouldContain(e => e.GetProperty("type").GetString() == "vm_destroyed");
        after.ShouldContain(e => e.GetProperty("type").GetString() == "task_created", "the tasks of an archived VM are still found");
        var version = running.GetProperty("version").GetInt64();
        (await pool.GetAsync($"/api/vms/{vm.Id}/history?version={version}")).ToString().ShouldBe(running.ToString());
        (await client.PostAsync($"/api/vms/{vm.Id}/start", null, ct)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
