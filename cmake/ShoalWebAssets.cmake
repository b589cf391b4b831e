# shoal_web_assets(TARGET): bundles web/ (esbuild, from web/node_modules after `npm ci` there:
# scripts/setup.sh runs it) into ${CMAKE_BINARY_DIR}/web and compiles the files into TARGET as
# byte arrays (cmake/EmbedFiles.cmake). Without web/node_modules the pages are a notice saying how
# to build them, so the C++ build never needs npm; scripts/setup.sh makes sure it is there.
function(shoal_web_assets target)
  set(web ${PROJECT_SOURCE_DIR}/web)
  set(out_dir ${CMAKE_BINARY_DIR}/web)
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/web_assets_data.cc)
  # url | file in out_dir (its extension gives the content type)
  set(assets "/|index.html" "/chat|chat.html" "/assets/dashboard.js|dashboard.js"
             "/assets/chat.js|chat.js" "/assets/style.css|style.css" "/assets/icon.svg|icon.svg")
  set(outputs "")
  foreach(a IN LISTS assets)
    string(REPLACE "|" ";" parts "${a}")
    list(GET parts 1 name)
    list(APPEND outputs ${out_dir}/${name})
  endforeach()
  find_program(SHOAL_NODE node)
  if(SHOAL_NODE AND EXISTS ${web}/node_modules/esbuild/package.json)
    file(GLOB_RECURSE web_srcs CONFIGURE_DEPENDS ${web}/src/*)
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${SHOAL_NODE} ${web}/build.mjs ${out_dir}
      DEPENDS ${web_srcs} ${web}/build.mjs ${web}/package-lock.json
      WORKING_DIRECTORY ${web}
      COMMENT "Bundling the dashboard (web/ -> ${out_dir})"
      VERBATIM)
  else()
    message(WARNING "web/node_modules is missing: `shoal serve` will show a notice instead of its "
                    "dashboard. Run `npm ci` in web/ (scripts/setup.sh does) and configure again.")
    set(note "<!doctype html><meta charset=utf-8><title>shoal</title><p>This shoal was built "
             "without its dashboard: run <code>npm ci</code> in <code>web/</code> (scripts/setup.sh "
             "does) and build again. The API at <code>/v1/</code> works.</p>")
    string(JOIN "" note ${note})
    foreach(o IN LISTS outputs)
      file(WRITE ${o} "${note}\n")
    endforeach()
  endif()
  string(REPLACE ";" "," assets_arg "${assets}")
  add_custom_command(
    OUTPUT ${gen}
    COMMAND ${CMAKE_COMMAND} -DDIR=${out_dir} -DOUT=${gen} "-DASSETS=${assets_arg}" -P
            ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    DEPENDS ${outputs} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    COMMENT "Compiling the dashboard's files into the binary"
    VERBATIM)
  target_sources(${target} PRIVATE ${gen})
endfunction()
